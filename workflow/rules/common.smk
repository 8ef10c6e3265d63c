# Shared helpers. Params are validated here, at parse time, before any job runs.
from rnnlab.params import validate_params

validate_params(config, workflow.source_path("../schemas/params.schema.yaml"))


def section(dpath):
    """The params section at ``dpath``; rules pass it via ``params:`` so edits rerun them."""
    return lookup(dpath=dpath, within=config)
