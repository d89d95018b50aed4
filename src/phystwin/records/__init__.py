"""HDF5 records with units and provenance: trajectories, streams, the SWMR recorder of live runs."""

from phystwin.records.hdf5 import Record as Record
from phystwin.records.hdf5 import RecordError as RecordError
from phystwin.records.hdf5 import read_record as read_record
from phystwin.records.hdf5 import write_trajectory as write_trajectory

__all__ = ["Record", "RecordError", "read_record", "write_trajectory"]
