"""Everything one process serves from, built complete at startup.

The request path reads `live.snapshot` (swapped whole on reload, never
mutated), the scheduler's in-memory state, suspensions and quota; it writes
only through the background writer. The snapshot swap, done by the reloader
through `LiveConfig.swap`, is the runtime's one mutation. Consumers take the
collaborators they use from here at startup, not the runtime itself.
"""

from __future__ import annotations

from ccbridge.access.auth import ClientAuth
from ccbridge.access.limiter import RateLimiter
from ccbridge.db.base import Database
from ccbridge.legacy.jsonmode import JsonMode
from ccbridge.routing.rules import FailoverPolicy
from ccbridge.routing.scheduler import ChannelScheduler
from ccbridge.settings import Settings
from ccbridge.store.budgets import BudgetBook
from ccbridge.store.configwrite import ConfigStore, ConfigWriter
from ccbridge.store.history import HistoryRetention
from ccbridge.store.live import LiveConfig
from ccbridge.store.quota import QuotaBook
from ccbridge.store.reloader import Reloader
from ccbridge.store.snapshot import Snapshot
from ccbridge.store.suspensions import Suspensions
from ccbridge.store.writer import Writer
from ccbridge.upstream.client import UpstreamClient
from ccbridge.upstream.codextokens import CodexTokens

__all__ = ("Runtime",)


class Runtime:
    """The process-wide services behind the proxy and the admin API.

    Constructing it does no I/O; the gateway's lifespan starts and stops
    the parts that run (writer, upstream client, reloader, JSON mode).
    """

    def __init__(self, settings: Settings, db: Database, snapshot: Snapshot) -> None:
        self.settings = settings
        self.db = db
        self.writer = Writer(db)
        self.upstream = UpstreamClient()
        self.scheduler = ChannelScheduler()
        self.policy = FailoverPolicy(snapshot.failover)
        self.rate_limiter = RateLimiter()
        self.quota = QuotaBook(self.writer)
        self.budgets = BudgetBook(self.writer.spend, self.writer.pending_spend)
        self.writer.on_spend = self.budgets.synced
        self.suspensions = Suspensions(self.writer)
        self.live = LiveConfig(
            snapshot,
            followers=(
                lambda snap: self.policy.update(snap.failover),
                self.scheduler.retain,
                self.upstream.adopt,
            ),
        )
        self.auth = ClientAuth(
            self.live, settings.proxy_access_key, self.rate_limiter, self.budgets
        )
        self.reloader = Reloader(
            db,
            self.live,
            self.writer,
            self.quota,
            self.suspensions,
            self.budgets,
            sweeps=(self.scheduler.sweep, self.rate_limiter.sweep),
            poll_interval=settings.config_poll_interval,
            history=HistoryRetention(
                settings.config_history_revisions, settings.config_history_days
            ),
        )
        store = ConfigStore(db, self.reloader.refresh)
        self.json_mode = (
            JsonMode(store, settings.data_dir) if settings.storage_backend == "json" else None
        )
        # Every config write goes through here (JSON mode also writes its files).
        self.config: ConfigWriter = self.json_mode or store
        self.codex_tokens = CodexTokens(
            db,
            self.live,
            self.config,
            self.upstream,
            settings.codex_token_url,
            holder=self.writer.instance_id,
        )

    @property
    def snapshot(self) -> Snapshot:
        """Return the config snapshot in force."""
        return self.live.snapshot
