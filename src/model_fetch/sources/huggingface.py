"""The ``huggingface`` source: a Hugging Face Hub repository at a revision.

``model_name`` is the repo id (``org/name``) and ``version`` a revision: a branch, a tag, a commit
or a ref such as ``refs/pr/1``; ``latest`` means the default branch. Two Hub API requests resolve
the revision to its commit and list the files with their sizes and ids (:mod:`._hub_api`, over the
downloader's own HTTP client: huggingface_hub is not needed, nor imported); the bytes come through
model_fetch's own transfer engine, so Hub downloads get its retries, stall guard, progress and
verification. Every LFS file is checked against its sha256 and every regular file against its git
blob id; huggingface_hub itself checks sizes only.

The installed version is the resolved commit; the ref that was asked for is remembered as an alias
of it, so two refs to one commit share one copy and a ref resolves offline to its last commit.

``HF_ENDPOINT`` and ``HF_TOKEN`` (else the token ``huggingface-cli login`` stored, at
``HF_TOKEN_PATH`` or ``$HF_HOME/token``) are read when a plan is made. The token is sent to the
Hub's own origin only: the redirect to the LFS CDN, another origin, carries no Authorization
header.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from model_fetch._log import get_logger
from model_fetch._models import Plan, RemoteFile
from model_fetch.checksums import Checksum
from model_fetch.exceptions import DownloadFailed, ModelFetchError, ModelNotFound
from model_fetch.sources._hub_api import HubError, hub_tree, valid_repo_id

if TYPE_CHECKING:
    from model_fetch._models import DownloadRequest
    from model_fetch.sources import SourceContext

__all__ = ["DEFAULT_ENDPOINT", "HuggingFaceSource"]

log = get_logger(__name__)

DEFAULT_ENDPOINT: Final = "https://huggingface.co"
# A hint that names the variable, not a secret.
_TOKEN_HINT: Final = "if the repository is private or gated, set HF_TOKEN to a token that has access (and accept the model's terms on the Hub)"  # noqa: E501, S105


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _token() -> str | None:
    """``HF_TOKEN``, else the token file huggingface_hub's login writes (as ``get_token`` reads)."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
    )
    path = os.environ.get("HF_TOKEN_PATH") or os.path.join(home, "token")
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            stored = handle.read().strip()
    except OSError:
        return None
    return stored or None


class HuggingFaceSource:
    """Plans a Hub repository's files at a resolved commit."""

    def __init__(self, context: SourceContext) -> None:
        """Create the source; nothing is read until the first plan.

        Args:
            context: The downloader's context.
        """
        self._context = context

    def plan(self, request: DownloadRequest) -> Plan:
        """Resolve the revision and list the repository's files with their digests.

        Raises:
            ModelNotFound: No such repository or revision, no access (the message names
                HF_TOKEN), or a name that is not a repo id.
            DownloadFailed: The Hub cannot be reached, or answered with another error.
        """
        repo_id = request.model_name
        facts = {"model_name": repo_id, "version": request.version}
        if not valid_repo_id(repo_id):
            raise ModelNotFound(
                f"Model '{repo_id}' not found in repository: it is not a valid Hugging Face "
                "repo id (name or org/name: letters, digits, '-', '_', '.')",
                **facts,
            )
        revision = None if request.version == "latest" else request.version
        endpoint, token = _endpoint(), _token()
        try:
            tree = hub_tree(
                self._context.http,
                endpoint,
                repo_id,
                revision,
                token=token,
                timeout=float(request.options.timeout),
            )
        except HubError as exc:
            raise _translate(exc, repo_id, request.version, endpoint) from exc
        commit = tree.commit
        if tree.gated and not token:
            raise ModelNotFound(
                f"Model '{repo_id}' is gated on the Hugging Face Hub: {_TOKEN_HINT}", **facts
            )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        files = [self._remote(endpoint, repo_id, commit, entry, headers) for entry in tree.files]
        if not files:
            raise ModelNotFound(
                f"Model '{repo_id}' has no files at '{request.version}'",
                model_name=repo_id,
                version=request.version,
            )
        shown = files[0].url if len(files) == 1 else f"{endpoint}/{repo_id}/tree/{commit}"
        return Plan(files=files, version=commit, download_url=shown, source="huggingface")

    @staticmethod
    def _remote(
        endpoint: str,
        repo_id: str,
        commit: str,
        entry: dict[str, Any],
        headers: dict[str, str],
    ) -> RemoteFile:
        path = str(entry["path"])
        url = f"{endpoint}/{repo_id}/resolve/{commit}/{quote(path)}"
        lfs = entry.get("lfs")
        if isinstance(lfs, dict):
            return RemoteFile(
                url=url,
                path=path,
                size=int(lfs["size"]),
                checksums=Checksum("sha256", str(lfs["oid"]).lower()),
                headers=headers,
            )
        return RemoteFile(
            url=url,
            path=path,
            size=int(entry["size"]),
            checksums=Checksum("git-blob-sha1", str(entry["oid"]).lower()),
            headers=headers,
        )


def _translate(exc: HubError, repo_id: str, version: str, endpoint: str) -> ModelFetchError:
    """Map the Hub's refusals to our errors, naming HF_TOKEN wherever access may be the cause."""
    facts = {"model_name": repo_id, "version": version}
    if exc.code == "GatedRepo":
        return ModelNotFound(
            f"Model '{repo_id}' is gated on the Hugging Face Hub: {_TOKEN_HINT}", **facts
        )
    if exc.repo_not_found:
        return ModelNotFound(
            f"Model '{repo_id}' not found in repository (the Hugging Face Hub at {endpoint}); "
            f"{_TOKEN_HINT}",
            **facts,
        )
    if exc.code == "RevisionNotFound":
        return ModelNotFound(
            f"Model '{repo_id}' version '{version}' not found in repository", **facts
        )
    if exc.status in (401, 403):
        return ModelNotFound(
            f"Access to model '{repo_id}' was refused (HTTP {exc.status}): {_TOKEN_HINT}",
            **facts,
        )
    return DownloadFailed(
        f"Could not read {repo_id!r} from the Hugging Face Hub at {endpoint}: "
        f"HTTP {exc.status}: {exc.message}"
    )
