"""The ``huggingface`` source: a Hugging Face Hub repository at a revision (extra ``hf``).

``model_name`` is the repo id (``org/name``) and ``version`` a revision: a branch, a tag, a commit
or a ref such as ``refs/pr/1``; ``latest`` means the default branch. huggingface_hub is used for
metadata only (resolve the revision to its commit, list the files with their sizes and ids); the
bytes come through model_fetch's own transfer engine, so Hub downloads get its retries, stall
guard, progress and verification. Every LFS file is checked against its sha256 and every regular
file against its git blob id; huggingface_hub itself checks sizes only.

The installed version is the resolved commit; the ref that was asked for is remembered as an alias
of it, so two refs to one commit share one copy and a ref resolves offline to its last commit.

``HF_ENDPOINT`` and ``HF_TOKEN`` are read when a plan is made, not when huggingface_hub is
imported. The token is sent to the Hub's own origin only: the redirect to the LFS CDN, another
origin, carries no Authorization header.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from model_fetch._log import get_logger
from model_fetch._models import Plan, RemoteFile
from model_fetch.checksums import Checksum
from model_fetch.exceptions import DownloadFailed, InvalidRequest, ModelFetchError, ModelNotFound

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
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token  # noqa: PLC0415 - optional dependency

        found: str | None = get_token()
    except (ImportError, OSError):
        return None
    return found


class HuggingFaceSource:
    """Plans a Hub repository's files at a resolved commit."""

    def __init__(self, context: SourceContext) -> None:
        """Create the source; huggingface_hub is imported on the first plan.

        Args:
            context: The downloader's context.
        """
        self._context = context

    def plan(self, request: DownloadRequest) -> Plan:
        """Resolve the revision and list the repository's files with their digests.

        Raises:
            ModelNotFound: No such repository, revision, or no access (the message names
                HF_TOKEN).
            InvalidRequest: huggingface_hub is not installed, or the name is not a repo id.
            DownloadFailed: The Hub cannot be reached.
        """
        try:
            from huggingface_hub import HfApi  # noqa: PLC0415 - optional dependency
            from huggingface_hub import errors as hf_errors  # noqa: PLC0415
        except ImportError as exc:
            raise InvalidRequest(
                "The 'huggingface' source needs huggingface_hub: pip install 'model_fetch[hf]'",
            ) from exc
        repo_id = request.model_name
        revision = None if request.version == "latest" else request.version
        endpoint, token = _endpoint(), _token()
        api = HfApi(endpoint=endpoint, token=token or False, library_name="model_fetch")
        try:
            info = api.model_info(
                repo_id, revision=revision, timeout=float(request.options.timeout)
            )
            commit = info.sha
            if not commit:
                raise DownloadFailed(
                    f"The Hub gave no commit for {repo_id!r} at {request.version!r}"
                )
            entries = list(api.list_repo_tree(repo_id, revision=commit, recursive=True))
        except (hf_errors.HfHubHTTPError, hf_errors.HFValidationError, OSError) as exc:
            raise _translate(exc, repo_id, request.version, endpoint) from exc
        if getattr(info, "gated", False) and not token:
            raise ModelNotFound(
                f"Model '{repo_id}' is gated on the Hugging Face Hub: {_TOKEN_HINT}",
                model_name=repo_id,
                version=request.version,
            )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        files = [
            self._remote(endpoint, repo_id, commit, entry, headers)
            for entry in entries
            if _is_file(entry)
        ]
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
        entry: Any,
        headers: dict[str, str],
    ) -> RemoteFile:
        url = f"{endpoint}/{repo_id}/resolve/{commit}/{quote(entry.path)}"
        if entry.lfs is not None:
            return RemoteFile(
                url=url,
                path=entry.path,
                size=int(entry.lfs.size),
                checksums=Checksum("sha256", str(entry.lfs.sha256).lower()),
                headers=headers,
            )
        return RemoteFile(
            url=url,
            path=entry.path,
            size=int(entry.size),
            checksums=Checksum("git-blob-sha1", str(entry.blob_id).lower()),
            headers=headers,
        )


def _translate(exc: Exception, repo_id: str, version: str, endpoint: str) -> ModelFetchError:
    """Map huggingface_hub's errors to ours, naming HF_TOKEN wherever access may be the cause."""
    from huggingface_hub import errors as hf_errors  # noqa: PLC0415 - optional dependency

    facts = {"model_name": repo_id, "version": version}
    if isinstance(exc, hf_errors.HFValidationError):
        return ModelNotFound(
            f"Model '{repo_id}' not found in repository: it is not a valid Hugging Face repo id "
            f"({exc})",
            **facts,
        )
    if isinstance(exc, hf_errors.GatedRepoError):
        return ModelNotFound(
            f"Model '{repo_id}' is gated on the Hugging Face Hub: {_TOKEN_HINT}", **facts
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return ModelNotFound(
            f"Model '{repo_id}' not found in repository (the Hugging Face Hub at {endpoint}); "
            f"{_TOKEN_HINT}",
            **facts,
        )
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return ModelNotFound(
            f"Model '{repo_id}' version '{version}' not found in repository", **facts
        )
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return ModelNotFound(
            f"Access to model '{repo_id}' was refused (HTTP {status}): {_TOKEN_HINT}", **facts
        )
    return DownloadFailed(
        f"Could not read {repo_id!r} from the Hugging Face Hub at {endpoint}: {exc}"
    )


def _is_file(entry: Any) -> bool:
    return type(entry).__name__ == "RepoFile"
