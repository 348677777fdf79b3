"""nagiosplugin glue for certificates on disk: ``--file`` and ``--expect-file``.

Reading goes through a callable (``certfile.load`` in real runs), so this
module does no IO of its own, and nothing here imports ``OpenSSL.SSL``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Optional

import nagiosplugin
from nagiosplugin.state import Unknown

from check_cert_validity import certfile, plugin, uptake
from check_cert_validity.certfile import CertBundle, CertFileError
from check_cert_validity.certinfo import CertFacts, clean, utc_minute
from check_cert_validity.plugin import NAGIOS_STATES, certificate_metrics, chain_lines
from check_cert_validity.record import Record
from check_cert_validity.thresholds import Bounds, Policy, ThresholdError


def file_label(path: str) -> str:
    """A path as it appears in plugin text (operator-given, still kept on one line)."""
    return clean(path, 200)


class CertificateFile(nagiosplugin.Resource):
    """The certificates in a file (``--file``): the first is the leaf."""

    def __init__(
        self, acquire: Callable[[], CertBundle], path: str, *, whole_chain: bool = False
    ) -> None:
        self.acquire = acquire
        self.label = file_label(path)
        self.whole_chain = whole_chain
        self.bundle: Optional[CertBundle] = None

    @property
    def name(self) -> str:
        return "CERT_VALIDITY"

    def probe(self) -> list[nagiosplugin.Metric]:
        try:
            self.bundle = self.acquire()
        except CertFileError as exc:
            return [nagiosplugin.Metric("file", FileProblem(self.label, exc), context="file")]
        certificates = self.bundle.certificates
        leaf = CertFacts.from_certificate(certificates[0])
        return certificate_metrics(leaf, certificates, self.whole_chain)

    def details(self, verbose: int) -> list[str]:
        """Long output: what the file holds (never the content of skipped blocks)."""
        if self.bundle is None:
            return []
        count = len(self.bundle.certificates)
        skipped = f"; skipped: {', '.join(self.bundle.skipped)}" if self.bundle.skipped else ""
        plural = "" if count == 1 else "s"
        head = f"file: {self.label} ({self.bundle.encoding}, {count} certificate{plural}{skipped})"
        return [clean(head, 300), *chain_lines(self.bundle.certificates)]


class FileProblem(Record):
    """A file (by its label) that gave no certificate, and why."""

    __slots__ = ("error", "label")
    label: str
    error: CertFileError

    def __init__(self, label: str, error: CertFileError) -> None:
        self._set(label=label, error=error)


class Pair(Record):
    """The served leaf and the leaf of the file it should be."""

    __slots__ = ("disk", "path", "served")
    served: CertFacts
    disk: CertFacts
    path: str  # the file's label

    def __init__(self, served: CertFacts, disk: CertFacts, path: str) -> None:
        self._set(served=served, disk=disk, path=path)


class ExpectedFile:
    """``--expect-file``: turns the served leaf into the uptake metric."""

    def __init__(self, acquire: Callable[[], CertBundle], path: str) -> None:
        self.acquire = acquire
        self.label = file_label(path)

    @classmethod
    def at(cls, path: str) -> ExpectedFile:
        """The file at ``path``, read when the served leaf is known."""
        return cls(lambda: certfile.load(path), path)

    def __call__(self, served: CertFacts) -> list[nagiosplugin.Metric]:
        try:
            bundle = self.acquire()
        except CertFileError as exc:
            problem = FileProblem(self.label, exc)
            return [nagiosplugin.Metric("expect_file", problem, context="file")]
        disk = CertFacts.from_certificate(bundle.certificates[0])
        return [nagiosplugin.Metric("uptake", Pair(served, disk, self.label), context="uptake")]


class FileContext(nagiosplugin.Context):
    """A file that gave no certificate: UNKNOWN when we cannot look, else ``state``."""

    def __init__(self, state: int) -> None:
        super().__init__("file")
        self.state = state

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        problem: FileProblem = metric.value
        state = Unknown if problem.error.cannot_look else NAGIOS_STATES[self.state]
        return nagiosplugin.Result(state, f"{problem.label}: {problem.error}", metric)


class UptakeContext(nagiosplugin.Context):
    """WARNING when the served leaf is not the certificate on disk."""

    def __init__(self, policy: Policy, now: datetime, label: str) -> None:
        super().__init__("uptake")
        self.policy = policy
        self.now = now
        self.label = label
        self.pair: Optional[Pair] = None

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        self.pair = pair = metric.value
        try:
            rotation: Optional[float] = Bounds.derive(self.policy, pair.served.lifetime).rotation
        except ThresholdError:
            rotation = None  # the leaf's own result reports this
        verdict = uptake.compare(pair.served, pair.disk, pair.path, self.now, rotation)
        text = f"{self.label} {verdict.reasons[0]}"
        return nagiosplugin.Result(NAGIOS_STATES[verdict.state], text, metric)

    def details(self) -> list[str]:
        """Long output: the certificate on disk, beside the served one described above."""
        if self.pair is None:
            return []
        disk = self.pair.disk
        same = "the same as served" if disk.der == self.pair.served.der else "differs"
        return [
            f"expect-file: {self.pair.path}: {same}; '{disk.name}' serial {disk.serial}, "
            f"notBefore {utc_minute(disk.not_before)}, notAfter {utc_minute(disk.not_after)}, "
            f"SHA-256 {disk.sha256}"
        ]


def contexts(
    policy: Policy, now: datetime, label: str, absent_state: int, whole_chain: bool
) -> list[object]:
    """The contexts for --file and --expect-file results, and --chain's when given."""
    found: list[object] = [FileContext(absent_state), UptakeContext(policy, now, label)]
    if whole_chain:  # the chain glue loads only for --chain
        from check_cert_validity import plugin_chain

        found.append(plugin_chain.ChainContext(policy, now, label))
    return found


def file_check(
    path: str, whole_chain: bool, policy: Policy, now: datetime, verbose: int, absent_state: int
) -> nagiosplugin.Check:
    """A ready-to-run Check of the certificate file at ``path`` (``--file``)."""
    label = file_label(path)
    return nagiosplugin.Check(
        CertificateFile(lambda: certfile.load(path), path, whole_chain=whole_chain),
        plugin.ValidityContext(policy, now, label),
        plugin.CertSummary(verbose, now),
        *contexts(policy, now, label, absent_state, whole_chain),
        name="CERT_VALIDITY",
    )
