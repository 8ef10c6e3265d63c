"""Pipeline stages (files in, files out) and the tooling around the Snakemake DAG."""
