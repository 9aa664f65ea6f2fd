"""Dataset assembly: structure-level splits, chunked HDF5 writer/reader, exclusion manifest."""
