"""Bulk demo data for a domain: window accounts with responders, contacts, talk rooms, bots and
a year of response history (`cxtalk seed-demo`, and the small history of `cxtalk dev --demo`).

Speed is the point (a million messages in seconds), so the rows do not go through the ORM:
- SQLite: the standard `sqlite3` module on the database file (WAL, synchronous=OFF, a busy
  timeout), `executemany` over generated tuples. The accounts and everything hanging off them
  are one transaction; the messages follow in transactions of `BATCH` rows, so an API running
  against the same file waits at most one batch for its own writes. Each batch commits with
  the `greeted_at` / `last_message_at` it implies, so every commit is consistent.
- PostgreSQL: asyncpg. The parent rows are one transaction (their ids reserved from their
  sequences, rows sent by `COPY`); the messages follow through two to four parallel `COPY`
  streams, one transaction each, ids from their sequence, then `ANALYZE messages`. When the
  role may set `session_replication_role` (superuser, or granted), the streams skip the
  per-row foreign-key triggers and lock the parents themselves (`_hold_parents`): ~4x faster.

Rows follow the rules the live service keeps: accounts are ACTIVE and hold a unit of the
product "Demo Bulk" (`products.in_use` grows by the accounts inserted, in a conditional UPDATE),
`responder_count` is the number of responder rows, `name_key` / `handle_key` are set, handles
(`demo<domain>x<n>`) are unique across the service. Every contact has one talk room whose
participants are responders of its account (two of them: a GROUP room). Messages are in time
order per conversation; a greeting opens each non-e-mail contact's first conversation (and
sets `greeted_at`), out-of-hours and holiday replies follow the default business hours (Mon–Fri
09:00–18:00 Asia/Tokyo) and the seeded holidays, at most one of a kind per room and local day.
Datetimes on SQLite are stored exactly as Tortoise stores them (UTC, `isoformat(" ")`), since
the export orders by that text.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from random import Random
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cxtalk.db import database_url
from models import Domain, Member
from services import directory, products, text_rules
from services.errors import BusinessError, ErrorCode, ErrorCollector
from services.invites import new_invite_token

DEMO_PRODUCT = "Demo Bulk"
DEMO_RESPONDER_LIMIT = 5
MIN_MEMBERS = 6  # fewer members in the domain: provision the demo staff below
BATCH = 50_000
MAX_ACCOUNTS = 1_000
MAX_CONTACTS = 1_000_000
MAX_MESSAGES = 100_000_000
HISTORY_DAYS = 365
TIMEZONE = "Asia/Tokyo"
TZ_OFFSET = 9 * 3600  # Asia/Tokyo has no daylight saving: local time is UTC + 9 h all year
OPEN_FROM, OPEN_UNTIL = 9 * 3600, 18 * 3600  # the default business hours, Monday to Friday
MESSAGE_COLUMNS = ("domain_id", "account_id", "contact_id", "room_id", "sender_type", "sender_name",
                   "auto_reply_kind", "content", "sent_at")


@dataclass
class SeedReport:
    domain_id: int
    accounts: int
    responders: int
    contacts: int
    talk_rooms: int
    group_rooms: int
    bots: int
    holidays: int
    messages: int
    members_provisioned: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


# --- pools: cheap, realistic text --------------------------------------------------------------

_JA_FAMILY = [("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"), ("伊藤", "ito"),
              ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"), ("小林", "kobayashi"),
              ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"), ("佐々木", "sasaki"), ("松本", "matsumoto")]
_JA_GIVEN = [("花子", "hanako"), ("一郎", "ichiro"), ("美咲", "misaki"), ("翔太", "shota"), ("陽菜", "hina"),
             ("大輔", "daisuke"), ("結衣", "yui"), ("健太", "kenta"), ("さくら", "sakura"), ("蓮", "ren"),
             ("葵", "aoi"), ("拓也", "takuya")]
_EN_FIRST = ["Alice", "Bob", "Charlotte", "David", "Emma", "Frank", "Grace", "Henry", "Isabella", "Jack",
             "Olivia", "Liam", "Mia", "Noah"]
_EN_LAST = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Johnson", "O'Brien",
            "Miller", "Clarke"]
_ACCOUNT_BASES = ["お問い合わせ窓口", "採用窓口", "Support Desk", "Sales", "予約受付", "Billing", "店舗サポート",
                  "Partner Desk", "会員サービス", "Tech Help"]
_BOTS = [("よくある質問ボット", "CX_TALK"), ("FAQ Bot", "CX_TALK"), ("注文状況ボット", "DEV_CONSOLE"),
         ("Order Status Bot", "DEV_CONSOLE"), ("予約確認ボット", "DEV_CONSOLE"), ("受付ボット", "CX_TALK")]
_DEMO_STAFF = [("伊藤 美穂", "miho.ito"), ("Emily Clark", "emily.clark"), ("中村 健", "ken.nakamura"),
               ("James Wright", "james.wright"), ("小林 さやか", "sayaka.kobayashi"), ("Sophie Martin", "sophie.martin"),
               ("加藤 大輝", "daiki.kato"), ("Oliver King", "oliver.king")]

GREETING_TEXT = ("友だち追加ありがとうございます！\nご質問はこのトークでお気軽にどうぞ。"
                 " / Thanks for adding us! Ask us anything here.")
OUT_OF_HOURS_TEXT = ("お問い合わせありがとうございます。ただいま営業時間外です（平日 9:00〜18:00）。"
                     "\n翌営業日に担当者よりご連絡します。")
HOLIDAY_TEXT = "本日は休業日です。営業再開後、順次ご返信いたします。 / We are closed today, we will reply soon."

# Some cells start with "=", "+", "-" or "@" (the CSV guard), some hold commas, quotes, newlines.
_CUSTOMER_TEXTS = [
    "こんにちは。注文した商品がまだ届きません。", "返品の手続きを教えてください。", "領収書を発行してもらえますか？",
    "ログインできなくなりました…\nパスワードの再設定方法を教えてください。", "営業時間は何時までですか？",
    "「プレミアムプラン」と「スタンダードプラン」の違いは何ですか？", "=SUM(A1:A3) と入力しても計算されません",
    "+81 90-1234-5678 に折り返しお電話いただけますか", "Hello, my order #1042 hasn't arrived yet.",
    'The app says "Error 500", what should I do?', "Can I change my delivery address, please?",
    "Hi,\nI was charged twice for the same order.\nCould you check?", "=HYPERLINK(\"http://example.com\")",
    "+1 (555) 010-2000 is my number, call me back", "-- 至急 -- 請求金額が違います", "@support 予約を変更したいです",
    "サイズ交換は可能ですか？ S, M, L のどれがありますか", "Do you ship to Osaka, Kyoto, and Kobe?",
    "ありがとうございました！", "Thanks, that solved it.", "まだ解決していません。", "Is anyone there?",
]
_RESPONDER_TEXTS = [
    "お問い合わせありがとうございます。担当の者が確認いたします。", "ご不便をおかけして申し訳ございません。",
    "ご注文番号を教えていただけますか？", "返品は商品到着後 14 日以内に、マイページから手続きできます。",
    "確認いたしました。本日発送済みです。\n追跡番号: 1234-5678-9012", '"設定" → "アカウント" の順に開いてください。',
    "=ご請求額は 3,980 円（税込）です。", "+αのご案内: 会員様は送料無料です。", "Thank you for reaching out!",
    "I'm sorry for the trouble. Let me check your order.", "Could you send us your order number, please?",
    'Please tap "Settings", then "Account".', "We have refunded the duplicate charge, it may take 3-5 days.",
    "Your address has been updated.\nAnything else?", "他にご不明な点はございますか？", "Have a nice day!",
]
_BOT_TEXTS = [
    "よくある質問はこちら: https://example.com/faq", "ご希望のメニューを選んでください。\n1. 注文状況\n2. 返品\n3. その他",
    "注文状況: 配送中（お届け予定 2 日後）", "Please choose: 1) Order status, 2) Returns, 3) Talk to a person",
    "Your order is out for delivery.", "担当者におつなぎします。少々お待ちください。", "+ メニューを開くには「menu」と送信",
]


# --- the plan: rows in Python, ids from the database --------------------------------------------

@dataclass
class _Account:
    name: str
    handle: str
    started_on: date
    created_at: datetime
    responders: list[tuple[int, str]]  # (member id, name)
    bots: list[tuple[str, str]]  # (name, origin)
    id: int = 0


@dataclass
class _Contact:
    account: int  # index into the accounts
    channel: str
    external_id: str
    name: str
    participants: list[tuple[int, str]]  # responders who answer in its room
    id: int = 0
    room_id: int = 0


def _check_sizes(accounts: int, contacts: int, messages: int) -> None:
    errors = ErrorCollector()
    if not 1 <= accounts <= MAX_ACCOUNTS:
        errors.add(ErrorCode.INVALID, "accounts", f"Must be between 1 and {MAX_ACCOUNTS}.")
    if not max(accounts, 1) <= contacts <= MAX_CONTACTS:
        errors.add(ErrorCode.INVALID, "contacts", f"Must be between the number of accounts and {MAX_CONTACTS}.")
    if not 0 <= messages <= MAX_MESSAGES:
        errors.add(ErrorCode.INVALID, "messages", f"Must be between 0 and {MAX_MESSAGES}.")
    errors.raise_if_any()


def _person(rng: Random, k: int) -> tuple[str, str]:
    """(display name, e-mail local part): Japanese or English."""
    if rng.random() < 0.6:
        family, given = rng.choice(_JA_FAMILY), rng.choice(_JA_GIVEN)
        return f"{family[0]} {given[0]}", f"{given[1]}.{family[1]}{k}"
    first, last = rng.choice(_EN_FIRST), rng.choice(_EN_LAST)
    return f"{first} {last}", f"{first.lower()}.{last.lower().replace(chr(39), '')}{k}"


class _Plan:
    def __init__(self, domain_id: int, seed: int, now: datetime, members: list[tuple[int, str]]):
        self.domain_id = domain_id
        self.rng = Random(seed)
        self.end = int(now.timestamp())
        self.start = self.end - HISTORY_DAYS * 86400
        self.members = members
        self.accounts: list[_Account] = []
        self.contacts: list[_Contact] = []

    def make_accounts(self, n: int, first_seq: int, taken_name_keys: set[str]) -> None:
        rng = self.rng
        for i in range(n):
            seq = first_seq + i
            handle = f"demo{self.domain_id}x{seq}"
            if len(handle) > text_rules.HANDLE_MAX:
                raise BusinessError.one(ErrorCode.INVALID, "accounts", "No demo handles are left for this domain.")
            base = _ACCOUNT_BASES[(seq - 1) % len(_ACCOUNT_BASES)]
            name, k = f"{base} {seq}", 1
            while text_rules.uniqueness_key(name) in taken_name_keys:
                k += 1
                name = f"{base} {seq}-{k}"
            taken_name_keys.add(text_rules.uniqueness_key(name))
            opened = datetime.fromtimestamp(self.start, timezone.utc) - timedelta(days=rng.randrange(1, 90))
            opened = opened.replace(hour=0, minute=0, second=0, microsecond=0)  # 09:00 in Tokyo
            size = min(len(self.members), DEMO_RESPONDER_LIMIT, 2 + rng.randrange(3))
            bots = [_BOTS[rng.randrange(0, 2)], _BOTS[rng.randrange(2, 5)]]
            if rng.random() < 0.3:
                bots.append(_BOTS[5])
            self.accounts.append(_Account(name=name, handle=handle, started_on=opened.date(), created_at=opened,
                                          responders=rng.sample(self.members, size), bots=bots))

    def make_contacts(self, n: int) -> None:
        rng = self.rng
        for k in range(n):
            a = k % len(self.accounts)
            name, local = _person(rng, k)
            r = rng.random()
            if r < 0.5:
                channel, external = "LINE", f"U{rng.getrandbits(128):032x}"
            elif r < 0.8:
                channel, external = "LINE_WORKS", f"lw-{rng.getrandbits(64):016x}"
            else:
                channel, external = "EMAIL", f"{local}@example.com"
            staff = self.accounts[a].responders
            group = len(staff) >= 2 and rng.random() < 0.2
            participants = rng.sample(staff, 2) if group else [rng.choice(staff)]
            self.contacts.append(_Contact(account=a, channel=channel, external_id=external, name=name,
                                          participants=participants))

    def holidays(self) -> list[tuple[date, date, str]]:
        """Year-end and summer closures that fall in the history's year."""
        first = datetime.fromtimestamp(self.start + TZ_OFFSET, timezone.utc).date()
        last = datetime.fromtimestamp(self.end + TZ_OFFSET, timezone.utc).date()
        periods = []
        for year in range(first.year - 1, last.year + 1):
            for start, end, name in ((date(year, 8, 13), date(year, 8, 15), "夏季休業"),
                                     (date(year, 12, 29), date(year + 1, 1, 3), "年末年始休業")):
                if end >= first and start <= last:
                    periods.append((start, end, name))
        return periods


class _History:
    """The message rows, generated as they are written: flat memory, integer time arithmetic.

    Conversations follow the history's time line (day by day over the year); each one starts with
    the customer (after the greeting on a contact's first contact) and goes on with responders,
    bots and the customer. `greeted` and `last_at` record what the rows written so far imply."""

    def __init__(self, plan: _Plan, n: int, stamp):
        self.plan, self.n, self.stamp = plan, n, stamp
        self.greeted: list[tuple[int, int]] = []  # (contact id, time) since the last take_greeted()
        self.last_at = [0] * len(plan.accounts)

    def take_greeted(self) -> list[tuple[int, int]]:
        taken, self.greeted = self.greeted, []
        return taken

    def rows(self):
        return itertools.islice(self._conversations(), self.n)

    def _conversations(self):
        plan, stamp, rnd = self.plan, self.stamp, self.plan.rng.random
        domain_id, n, start, end = plan.domain_id, max(self.n, 1), plan.start, plan.end
        # Local days after the first one and before today: no conversation falls outside the year.
        span_days = HISTORY_DAYS - 1
        first_day = (start + TZ_OFFSET) // 86400 + 1
        closed_days = set()
        for h_start, h_end, _ in plan.holidays():
            day = h_start
            while day <= h_end:
                closed_days.add((day - date(1970, 1, 1)).days)
                day += timedelta(days=1)
        accounts = [(a.id, a.name, [b[0] for b in a.bots]) for a in plan.accounts]
        contacts = [(c.id, c.room_id, c.account, c.name, c.channel == "EMAIL", [p[1] for p in c.participants])
                    for c in plan.contacts]
        n_contacts = len(contacts)
        greeted = [False] * n_contacts
        last_reply_day = [-1] * n_contacts  # local day of the room's last out-of-hours reply
        last_holiday_day = [-1] * n_contacts
        last_at = self.last_at
        customer, responder = _CUSTOMER_TEXTS, _RESPONDER_TEXTS
        n_customer, n_responder, n_bot = len(customer), len(responder), len(_BOT_TEXTS)
        produced = 0
        while True:
            ci = int(rnd() * n_contacts)
            contact_id, room_id, a, contact_name, by_email, staff = contacts[ci]
            account_id, account_name, bots = accounts[a]
            # The day follows the history; the time of day is mostly within business hours.
            day = first_day + (produced * span_days) // n
            second = OPEN_FROM + int(rnd() * (OPEN_UNTIL - OPEN_FROM)) if rnd() < 0.75 else int(rnd() * 86400)
            t = min(day * 86400 + second - TZ_OFFSET, end)
            t = max(t, start)
            local_day = (t + TZ_OFFSET) // 86400
            local_second = (t + TZ_OFFSET) % 86400
            weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
            holiday = local_day in closed_days
            is_open = not holiday and weekday < 5 and OPEN_FROM <= local_second < OPEN_UNTIL
            if not greeted[ci]:
                greeted[ci] = True
                if not by_email:  # the greeting answered the customer's "add", a moment before
                    added = max(t - 60, start)
                    self.greeted.append((contact_id, added))
                    if added > last_at[a]:
                        last_at[a] = added
                    produced += 1
                    yield (domain_id, account_id, contact_id, room_id, "AUTO_REPLY", account_name, "GREETING",
                           GREETING_TEXT, stamp(added))
            at = stamp(t)
            if t > last_at[a]:
                last_at[a] = t
            produced += 1
            yield (domain_id, account_id, contact_id, room_id, "CUSTOMER", contact_name, None,
                   customer[int(rnd() * n_customer)], at)
            if holiday:
                if last_holiday_day[ci] != local_day:
                    last_holiday_day[ci] = local_day
                    produced += 1
                    yield (domain_id, account_id, contact_id, room_id, "AUTO_REPLY", account_name, "HOLIDAY",
                           HOLIDAY_TEXT, at)
            elif not is_open and last_reply_day[ci] != local_day:
                last_reply_day[ci] = local_day
                produced += 1
                yield (domain_id, account_id, contact_id, room_id, "AUTO_REPLY", account_name, "OUT_OF_HOURS",
                       OUT_OF_HOURS_TEXT, at)
            for _ in range(1 + int(rnd() * 5)):
                t += 20 + int(rnd() * 600)
                if t > end:
                    break
                r = rnd()
                if r < 0.55 and is_open:
                    row = ("RESPONDER", staff[int(rnd() * len(staff))], responder[int(rnd() * n_responder)])
                elif r < 0.75:
                    row = ("BOT", bots[int(rnd() * len(bots))], _BOT_TEXTS[int(rnd() * n_bot)])
                else:
                    row = ("CUSTOMER", contact_name, customer[int(rnd() * n_customer)])
                if t > last_at[a]:
                    last_at[a] = t
                produced += 1
                yield (domain_id, account_id, contact_id, room_id, row[0], row[1], None, row[2], stamp(t))


# --- the two loaders ----------------------------------------------------------------------------

def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def _sqlite_stamp(start: int, end: int):
    """UTC seconds -> the text Tortoise writes for an aware datetime: '2026-01-05 00:00:00+00:00'."""
    first_day = start // 86400
    days = [(date(1970, 1, 1) + timedelta(days=d)).isoformat() + " " for d in range(first_day, end // 86400 + 1)]
    clock = [f"{h:02d}:{m:02d}:{s:02d}+00:00" for h in range(24) for m in range(60) for s in range(60)]

    def stamp(t: int) -> str:
        day, second = divmod(t, 86400)
        return days[day - first_day] + clock[second]

    return stamp


def _dt_text(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(" ")


def _sqlite_path(url: str) -> str:
    return url[len("sqlite://"):].split("?")[0]


def _next_handle_seq(handles, domain_id: int) -> int:
    prefix = f"demo{domain_id}x"
    used = [int(h[len(prefix):]) for h in handles if h.startswith(prefix) and h[len(prefix):].isdigit()]
    return max(used, default=0) + 1


def _account_rows(plan: _Plan, product_id: int, now: datetime, dt, day) -> list[tuple]:
    """Rows for `_ACCOUNT_COLUMNS`; `dt` and `day` turn datetimes and dates into database values."""
    return [(plan.domain_id, product_id, a.name, text_rules.uniqueness_key(a.name), a.handle, a.handle,
             new_invite_token(), TIMEZONE, day(a.started_on), "ACTIVE", len(a.responders), GREETING_TEXT,
             OUT_OF_HOURS_TEXT, HOLIDAY_TEXT, dt(a.created_at), dt(now)) for a in plan.accounts]


_ACCOUNT_COLUMNS = ("domain_id", "product_id", "name", "name_key", "handle", "handle_key", "invite_token", "timezone",
                    "started_on", "status", "responder_count", "greeting_message", "out_of_hours_message",
                    "holiday_message", "created_at", "updated_at")


def _load_sqlite(path: str, plan: _Plan, product_id: int, accounts: int, contacts: int, messages: int,
                 now: datetime) -> None:
    db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA busy_timeout=60000")
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            pass  # another connection holds the database in another mode: keep it
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA foreign_keys=ON")  # as Tortoise's connections: a parent deleted meanwhile fails the batch
        db.execute("PRAGMA journal_size_limit=16384")  # as Tortoise: the WAL file shrinks back after the load
        db.execute("PRAGMA cache_size=-262144")  # 256 MiB for the index pages of a big load
        created = _dt_text(now)
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("UPDATE products SET in_use = in_use + ? WHERE id = ? AND domain_id = ?"
                          " AND in_use + ? <= quantity", (accounts, product_id, plan.domain_id, accounts)).rowcount != 1:
                raise BusinessError.one(ErrorCode.PRODUCT_EXHAUSTED, "accounts",
                                        "Every purchased unit of the demo product is in use.")
            handles = [r[0] for r in db.execute("SELECT handle FROM window_accounts WHERE handle LIKE ?",
                                                (f"demo{plan.domain_id}x%",))]
            names = {r[0] for r in db.execute(
                "SELECT name_key FROM window_accounts WHERE domain_id = ? AND name_key IS NOT NULL", (plan.domain_id,))}
            plan.make_accounts(accounts, _next_handle_seq(handles, plan.domain_id), names)
            plan.make_contacts(contacts)
            insert_account = (f"INSERT INTO window_accounts ({', '.join(_ACCOUNT_COLUMNS)})"
                              f" VALUES ({', '.join('?' * len(_ACCOUNT_COLUMNS))})")
            for account, row in zip(plan.accounts, _account_rows(plan, product_id, now, _dt_text, date.isoformat)):
                account.id = db.execute(insert_account, row).lastrowid
            db.executemany("INSERT INTO responders (account_id, member_id, created_at) VALUES (?, ?, ?)",
                           [(a.id, m, _dt_text(a.created_at)) for a in plan.accounts for m, _ in a.responders])
            db.executemany("INSERT INTO bots (account_id, name, origin, created_at) VALUES (?, ?, ?, ?)",
                           [(a.id, name, origin, _dt_text(a.created_at)) for a in plan.accounts
                            for name, origin in a.bots])
            db.executemany("INSERT INTO holidays (account_id, start_date, end_date, name, created_at)"
                           " VALUES (?, ?, ?, ?, ?)",
                           [(a.id, s.isoformat(), e.isoformat(), name, created) for a in plan.accounts
                            for s, e, name in plan.holidays()])
            first_seen = _dt_text(_utc(plan.start))
            for c in plan.contacts:
                c.id = db.execute("INSERT INTO contacts (account_id, channel, external_id, name, created_at)"
                                  " VALUES (?, ?, ?, ?, ?)",
                                  (plan.accounts[c.account].id, c.channel, c.external_id, c.name, first_seen)).lastrowid
                c.room_id = db.execute("INSERT INTO talk_rooms (account_id, contact_id, created_at) VALUES (?, ?, ?)",
                                       (plan.accounts[c.account].id, c.id, first_seen)).lastrowid
            db.executemany("INSERT INTO talk_room_participants (room_id, member_id, created_at) VALUES (?, ?, ?)",
                           [(c.room_id, m, first_seen) for c in plan.contacts for m, _ in c.participants])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

        history = _History(plan, messages, _sqlite_stamp(plan.start, plan.end))
        rows = history.rows()
        insert_message = (f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)})"
                          f" VALUES ({', '.join('?' * len(MESSAGE_COLUMNS))})")
        written = 0
        while written < messages:
            size = min(BATCH, messages - written)
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(insert_message, itertools.islice(rows, size))
                _sqlite_after_batch(db, plan, history)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            written += size
    finally:
        db.close()


def _sqlite_after_batch(db, plan: _Plan, history: _History) -> None:
    db.executemany("UPDATE contacts SET greeted_at = ? WHERE id = ?",
                   [(_dt_text(_utc(t)), cid) for cid, t in history.take_greeted()])
    db.executemany("UPDATE window_accounts SET last_message_at = ? WHERE id = ?"
                   " AND (last_message_at IS NULL OR last_message_at < ?)",
                   [(_dt_text(_utc(t)), a.id, _dt_text(_utc(t)))
                    for a, t in zip(plan.accounts, history.last_at) if t])


def _asyncpg_dsn(url: str) -> tuple[str, dict]:
    """Tortoise's postgres:// URL -> an asyncpg DSN; Tortoise-only query options are dropped."""
    parts = urlsplit(url)
    keep, settings = [], {}
    for key, value in parse_qsl(parts.query):
        if key == "schema":
            settings["search_path"] = value
        elif key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "passfile",
                     "target_session_attrs", "application_name", "connect_timeout"):
            keep.append((key, value))
    return urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(keep), "")), settings


async def _reserve_ids(con, table: str, n: int) -> list[int]:
    if n == 0:
        return []
    rows = await con.fetch(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)", n)
    return [r[0] for r in rows]


async def _load_postgres(url: str, plan: _Plan, product_id: int, accounts: int, contacts: int, messages: int,
                         now: datetime) -> None:
    import asyncpg

    dsn, settings = _asyncpg_dsn(url)
    con = await asyncpg.connect(dsn, server_settings=settings or None)
    try:
        async with con.transaction():
            # One seeder at a time (handles are unique across the service); the API is not blocked.
            await con.execute("SELECT pg_advisory_xact_lock(hashtext('cxtalk.seed-demo'))")
            if await con.execute("UPDATE products SET in_use = in_use + $1 WHERE id = $2 AND domain_id = $3"
                                 " AND in_use + $1 <= quantity", accounts, product_id, plan.domain_id) != "UPDATE 1":
                raise BusinessError.one(ErrorCode.PRODUCT_EXHAUSTED, "accounts",
                                        "Every purchased unit of the demo product is in use.")
            handles = [r[0] for r in await con.fetch("SELECT handle FROM window_accounts WHERE handle LIKE $1",
                                                     f"demo{plan.domain_id}x%")]
            names = {r[0] for r in await con.fetch(
                "SELECT name_key FROM window_accounts WHERE domain_id = $1 AND name_key IS NOT NULL", plan.domain_id)}
            plan.make_accounts(accounts, _next_handle_seq(handles, plan.domain_id), names)
            plan.make_contacts(contacts)
            for account, account_id in zip(plan.accounts, await _reserve_ids(con, "window_accounts", accounts)):
                account.id = account_id
            same = lambda value: value  # noqa: E731 (asyncpg takes datetimes and dates as they are)
            await con.copy_records_to_table(
                "window_accounts", columns=["id", *_ACCOUNT_COLUMNS],
                records=[(a.id, *row) for a, row in zip(plan.accounts, _account_rows(plan, product_id, now, same, same))])
            await con.copy_records_to_table(
                "responders", columns=["account_id", "member_id", "created_at"],
                records=[(a.id, m, a.created_at) for a in plan.accounts for m, _ in a.responders])
            await con.copy_records_to_table(
                "bots", columns=["account_id", "name", "origin", "created_at"],
                records=[(a.id, name, origin, a.created_at) for a in plan.accounts for name, origin in a.bots])
            await con.copy_records_to_table(
                "holidays", columns=["account_id", "start_date", "end_date", "name", "created_at"],
                records=[(a.id, s, e, name, now) for a in plan.accounts for s, e, name in plan.holidays()])
            first_seen = _utc(plan.start)
            for c, contact_id in zip(plan.contacts, await _reserve_ids(con, "contacts", contacts)):
                c.id = contact_id
            for c, room_id in zip(plan.contacts, await _reserve_ids(con, "talk_rooms", contacts)):
                c.room_id = room_id
            await con.copy_records_to_table(
                "contacts", columns=["id", "account_id", "channel", "external_id", "name", "created_at"],
                records=[(c.id, plan.accounts[c.account].id, c.channel, c.external_id, c.name, first_seen)
                         for c in plan.contacts])
            await con.copy_records_to_table(
                "talk_rooms", columns=["id", "account_id", "contact_id", "created_at"],
                records=[(c.room_id, plan.accounts[c.account].id, c.id, first_seen) for c in plan.contacts])
            await con.copy_records_to_table(
                "talk_room_participants", columns=["room_id", "member_id", "created_at"],
                records=[(c.room_id, m, first_seen) for c in plan.contacts for m, _ in c.participants])
        # The messages: several COPY streams at once, each its own transaction (one backend uses
        # one core, and row by row foreign-key checks are most of the cost: see _skip_row_checks).
        # The parents are committed above, so every stream sees them.
        history = _History(plan, messages, _utc)
        if messages:
            await _copy_messages(dsn, settings, con, plan, history)
        async with con.transaction():
            await con.executemany("UPDATE contacts SET greeted_at = $1 WHERE id = $2",
                                  [(_utc(t), cid) for cid, t in history.take_greeted()])
            await con.executemany("UPDATE window_accounts SET last_message_at = $1 WHERE id = $2"
                                  " AND (last_message_at IS NULL OR last_message_at < $1)",
                                  [(_utc(t), a.id) for a, t in zip(plan.accounts, history.last_at) if t])
        if messages:
            await con.execute("ANALYZE messages")
    finally:
        await con.close()


# Tried first in each stream: without the per-row foreign-key triggers a COPY is ~3x faster.
# Allowed to superusers and to roles granted `SET` on the parameter (PostgreSQL 15+).
SKIP_ROW_CHECKS = True


async def _skip_row_checks(connection) -> bool:
    """Inside the stream's transaction: session_replication_role=replica (as pg_restore
    --disable-triggers does) when the role may set it, else keep the checks."""
    import asyncpg

    if not SKIP_ROW_CHECKS:
        return False
    try:
        async with connection.transaction():  # a savepoint: a refusal leaves the transaction usable
            await connection.execute("SET LOCAL session_replication_role = replica")
        return True
    except asyncpg.InsufficientPrivilegeError:
        return False


async def _hold_parents(connection, plan: _Plan) -> None:
    """What the skipped foreign-key checks would do: lock every parent the messages reference
    (FOR KEY SHARE) so none is deleted before the messages commit, and make sure all exist."""
    checks = [("domains", [plan.domain_id]), ("window_accounts", [a.id for a in plan.accounts]),
              ("contacts", [c.id for c in plan.contacts]), ("talk_rooms", [c.room_id for c in plan.contacts])]
    for table, ids in checks:
        found = await connection.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = ANY($1::int[]) FOR KEY SHARE) AS held", ids)
        if found != len(ids):
            raise BusinessError.one(ErrorCode.NOT_FOUND, "domainId",
                                    f"Rows of {table} were deleted while the demo data was being written.")


async def _copy_messages(dsn: str, settings: dict, con, plan: _Plan, history: _History) -> None:
    import asyncpg

    rows = history.rows()
    streams = max(2, min(4, os.cpu_count() or 2))

    async def feed():
        # Chunks from the one generator, taking turns with the other streams.
        while chunk := list(itertools.islice(rows, 5_000)):
            for row in chunk:
                yield row
            await asyncio.sleep(0)

    async def stream(connection) -> None:
        async with connection.transaction():
            if await _skip_row_checks(connection):
                await _hold_parents(connection, plan)
            await connection.copy_records_to_table("messages", columns=list(MESSAGE_COLUMNS), records=feed())

    extra = [await asyncpg.connect(dsn, server_settings=settings or None) for _ in range(streams - 1)]
    try:
        async with asyncio.TaskGroup() as group:  # one stream fails: the others are canceled and roll back
            for connection in [con, *extra]:
                group.create_task(stream(connection))
    finally:
        for connection in extra:
            await connection.close()


# --- the entry point ----------------------------------------------------------------------------

async def _responder_pool(domain_id: int) -> tuple[list[tuple[int, str]], int]:
    """Members of the domain to be responders; the demo staff is provisioned if there are few."""
    members = await Member.filter(domain_id=domain_id).order_by("id").values_list("id", "name")
    provisioned = 0
    if len(members) < MIN_MEMBERS:
        staff = [(name, f"{local}@demo{domain_id}.example") for name, local in _DEMO_STAFF]
        provisioned = len(await directory.provision_members(domain_id, staff))
        members = await Member.filter(domain_id=domain_id).order_by("id").values_list("id", "name")
    return [tuple(m) for m in members], provisioned


async def seed_demo(domain_id: int, accounts: int = 5, contacts: int = 200, messages: int = 10_000,
                    seed: int = 1) -> SeedReport:
    """Add `accounts` demo window accounts with `contacts` contacts (spread over them), their
    talk rooms and bots, and `messages` messages over the last year to the domain. Running it
    again adds more. Needs Tortoise initialised (it grants the product and provisions members
    through the services); the bulk rows go straight to the database."""
    began = time.perf_counter()
    _check_sizes(accounts, contacts, messages)
    if not await Domain.filter(id=domain_id).exists():
        raise BusinessError.one(ErrorCode.NOT_FOUND, "domainId", "No such domain.")
    members, provisioned = await _responder_pool(domain_id)
    product = await products.grant_product(domain_id, DEMO_PRODUCT, DEMO_RESPONDER_LIMIT, accounts)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    plan = _Plan(domain_id, seed, now, members)
    url = database_url()
    if url.startswith("sqlite://"):
        await asyncio.to_thread(_load_sqlite, _sqlite_path(url), plan, product.id, accounts, contacts, messages, now)
    else:
        await _load_postgres(url, plan, product.id, accounts, contacts, messages, now)
    return SeedReport(
        domain_id=domain_id, accounts=accounts, responders=sum(len(a.responders) for a in plan.accounts),
        contacts=contacts, talk_rooms=contacts, group_rooms=sum(len(c.participants) > 1 for c in plan.contacts),
        bots=sum(len(a.bots) for a in plan.accounts), holidays=accounts * len(plan.holidays()),
        messages=messages, members_provisioned=provisioned, seconds=round(time.perf_counter() - began, 3))
