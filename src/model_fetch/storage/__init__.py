"""The model store on fsspec: layout, atomic commit, install records, locks and space checks."""

from model_fetch.storage._store import RECORD_NAME, InstallRecord, Store, make_record

__all__ = ["RECORD_NAME", "InstallRecord", "Store", "make_record"]
