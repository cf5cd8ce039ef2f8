"""Hold the active rule set and swap in a new version of its file without a restart.

``maybe_reload()`` is cheap enough for the scorer's loop: at most every
``check_interval_s`` it reads the file and hashes its bytes (a rule file is a
few kilobytes; content, not mtime, so two quick edits within one timestamp
tick are not missed). A changed file is validated completely before it is
activated; an invalid one is logged and the previous rule set stays in force
(``last_error`` keeps the reason for a health check), so a bad edit can never
take the rules down. Swapping is one attribute assignment: a reader always
sees either the old set or the new one.

A file modified less than ``settle_s`` ago is not read yet: a file rewritten in
place (``cat > rules.yaml``, an editor without atomic rename) can be caught half
written, and a prefix of a rule file is often a valid rule set with the block
rules missing. Nothing a file holds can raise anything but ``RuleSetError``
here (``parse_rule_set``), and anything else is caught too: the scorer calls
this between batches and must keep running on the rules it has.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from rules.exceptions import RuleSetError
from rules.expression.types import Vocabulary
from rules.loader import parse_rule_set
from rules.ruleset import RuleSet

__all__ = ["SETTLE_S", "RuleSetHolder"]

log = logging.getLogger(__name__)

#: A rule file is read once it has not been modified for this long (seconds).
SETTLE_S = 1.0


class RuleSetHolder:
    """The active ``RuleSet`` of one file. The first load must succeed (it raises)."""

    def __init__(
        self,
        path: str | Path,
        vocabulary: Vocabulary,
        *,
        check_interval_s: float = 2.0,
        settle_s: float = SETTLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._vocabulary = vocabulary
        self._interval = check_interval_s
        self._settle_s = settle_s
        self._clock = clock
        self.last_error: RuleSetError | None = None
        #: The error of the content last read (None: it is the active set's).
        self._seen_error: RuleSetError | None = None
        data = self._read()
        self._current = self._parse(data)
        self._seen_digest = hashlib.sha256(data).digest()
        self._next_check = clock() + check_interval_s

    @property
    def current(self) -> RuleSet:
        return self._current

    def maybe_reload(self) -> bool:
        """Reload if the check interval passed and the file changed; True if swapped."""
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + self._interval
        return self.reload()

    def reload(self) -> bool:
        """Check the file now; True if a new, valid rule set became active."""
        try:
            return self._reload()
        except Exception:  # a bug here must not stop the scorer: keep the current rules
            log.exception("rule set %s: reload failed; keeping version %s", self.path, self.version)
            return False

    @property
    def version(self) -> str:
        return self._current.version

    def _reload(self) -> bool:
        try:
            if self._settle_s > 0 and time.time() - self._mtime() < self._settle_s:
                return False  # possibly still being written: look again at the next check
            data = self._read()
        except RuleSetError as exc:
            return self._reject(exc, None)
        digest = hashlib.sha256(data).digest()
        if digest == self._seen_digest:
            self.last_error = self._seen_error  # (a read failure may have passed)
            return False
        try:
            fresh = self._parse(data)
        except RuleSetError as exc:
            return self._reject(exc, digest)
        self._seen_digest = digest
        self._seen_error = self.last_error = None
        if fresh.version == self._current.version:
            return False  # only comments or layout changed
        log.info("rule set %s: version %s -> %s", self.path, self._current.version, fresh.version)
        self._current = fresh
        return True

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError as exc:
            raise RuleSetError.single(str(self.path), f"cannot read the file: {exc}") from exc

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise RuleSetError.single(str(self.path), f"cannot read the file: {exc}") from exc

    def _parse(self, data: bytes) -> RuleSet:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RuleSetError.single(str(self.path), f"not UTF-8 text: {exc}") from exc
        return parse_rule_set(text, self._vocabulary, source=str(self.path))

    def _reject(self, error: RuleSetError, digest: bytes | None) -> bool:
        # Remember the bad content (or the same read failure) so it is logged once,
        # not on every check.
        if digest is not None:
            self._seen_digest = digest
            self._seen_error = error
        elif self.last_error is not None and str(self.last_error) == str(error):
            return False
        log.error(
            "rule set %s: keeping version %s, the new file is invalid: %s",
            self.path,
            self._current.version,
            error,
        )
        self.last_error = error
        return False
