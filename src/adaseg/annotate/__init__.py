"""Real annotators in the loop (oracle: labelstudio): a selection round's asks go out as Label
Studio tasks (or a CVAT zip) and the annotations come back as label files (rules/annotate.smk)."""
