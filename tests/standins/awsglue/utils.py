import argparse


def getResolvedOptions(args, options):  # noqa: N802 - Glue's own name
    """Like Glue's: every option is a required ``--NAME value``; unknown arguments are ignored."""
    from awsglue import CALLS

    parser = argparse.ArgumentParser()
    for option in options:
        parser.add_argument(f"--{option}", required=True)
    known, _ = parser.parse_known_args(args[1:])
    CALLS.append(("getResolvedOptions", tuple(options)))
    return vars(known)
