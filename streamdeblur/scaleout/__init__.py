"""Scale-out: a long video cut into segments processed independently (``plan``), run here or on Ray."""
