# rnnlab: one Snakemake DAG for every study. dvc.yaml is generated from it (rnnlab dvc-sync).
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/rhythm.smk"
include: "workflow/rules/condense.smk"
include: "workflow/rules/v1.smk"
include: "workflow/rules/maturation.smk"
include: "workflow/rules/toys.smk"


rule all:
    default_target: True
    input:
        RHYTHM_TARGETS,
        CONDENSE_TARGETS,
        V1_TARGETS,
        MATURATION_TARGETS,
        TOYS_TARGETS,
