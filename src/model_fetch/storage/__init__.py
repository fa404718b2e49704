"""The model store on fsspec: layout, atomic commit, install records, locks and space checks.

:class:`Store` is the front; behind it a local backend (rename is the commit, lock files) or an
object backend (upload, then the record written last with a conditional write; leases). Every
lock is a :class:`StoreLock`.
"""

from typing import TYPE_CHECKING

from model_fetch._lazy import lazy_exports
from model_fetch.storage._layout import RECORD_NAME
from model_fetch.storage._locks import LocalLock, StoreLock
from model_fetch.storage._record import RECORD_FORMAT, InstallRecord, make_record, plan_etags
from model_fetch.storage._store import Store

if TYPE_CHECKING:
    from model_fetch.storage._lease import Lease, LeaseLost
    from model_fetch.storage._objects import store_unavailable

# Object stores' parts load with their first use: a local store never needs them.
__getattr__, __dir__ = lazy_exports(
    __name__, {"Lease": "._lease", "LeaseLost": "._lease", "store_unavailable": "._objects"}
)

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
