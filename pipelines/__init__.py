"""The shipped YAML pipelines; installed as the package data ``streamdeblur.pipelines``."""
