"""The model store on fsspec: layout, atomic commit, install records, locks and space checks.

:class:`Store` is the front; behind it a local backend (rename is the commit, lock files) or an
object backend (upload, then the record written last with a conditional write; leases). Every
lock is a :class:`StoreLock`.
"""

from model_fetch.storage._layout import RECORD_NAME
from model_fetch.storage._lease import Lease, LeaseLost
from model_fetch.storage._locks import LocalLock, StoreLock
from model_fetch.storage._objects import store_unavailable
from model_fetch.storage._record import RECORD_FORMAT, InstallRecord, make_record, plan_etags
from model_fetch.storage._store import Store

__all__ = [
    "RECORD_FORMAT",
    "RECORD_NAME",
    "InstallRecord",
    "Lease",
    "LeaseLost",
    "LocalLock",
    "Store",
    "StoreLock",
    "make_record",
    "plan_etags",
    "store_unavailable",
]
