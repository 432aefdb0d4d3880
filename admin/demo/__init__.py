"""Demo data: the branches of the Drenthe libraries, the default question set and months of answers."""
