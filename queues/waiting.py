"""The live waiting list and agent availability in Redis, with atomic caller-to-agent claims.

The database is the system of record; this is the fast, shared view that every web process
and worker routes from. Decisions are made by the pure functions of `queues.routing` over
what is read here; the result is then *claimed* by one Lua script that succeeds only if the
caller is still waiting and the agent still available (and eligible), and removes both in the
same step. Two processes can therefore read the same candidates and choose the same agent or
caller, but only one claim wins: no caller goes to two agents, no agent gets two callers.

Key layout, under the prefix given to the constructor (P):

    P callers                 hash    entry_id -> caller record (JSON, with its member and keys)
    P queue:{queue}           zset    member -> queue score         (one per queue: order, position)
    P wait:{skill}:{language} zset    member -> queue score         (who an agent can take)
    P agents                  hash    agent_id -> agent record (JSON); available agents only
    P avail:{skill}:{lang}    zset    agent_id -> idle_since (Unix s) (one per skill x language)
    P keys                    set     every zset name above ever used (for `rebuild`)
    P assignment:{id}         hash    entry_id, agent_id, caller, agent of a won claim (TTL)

A caller's member is "<enqueued_at in Unix microseconds, 17 digits>|<entry_id>": members
with equal scores sort by arrival, which is the tie-break "priority, then arrival" needs.

Cost of one decision (N waiting callers, M available agents): a caller's decision reads the
head of one `avail` set (O(log M + k)); an agent's decision reads the head of one `wait` set
per skill x language the agent has (O(s*l*(log N + k))); a claim removes one member from a
few sorted sets (O(log N + log M)). Nothing scans the waiting list or the agent list.
Each decision is two round trips: one read script and one claim script.

Lua runs on standalone Redis 6.2 and 7 (cjson is built in); the scripts touch keys named
inside the records, so Redis Cluster is not supported.
"""

from __future__ import annotations

import enum
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.client import Pipeline

from queues.routing import (
    AVAILABLE,
    AgentCandidate,
    Assignment,
    PriorityRule,
    WaitingCaller,
    choose_agent,
    choose_caller,
)

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MEMBER_DIGITS = 17  # microseconds since 1970 fit in 17 digits until the year 5138
_TIE_LIMIT = 1000  # at most this many agents idle since the very same instant are compared

# --- Lua ---------------------------------------------------------------------------------
# Records carry the names of the sorted sets they are in ("keys"), computed in Python, so the
# scripts never build key names themselves.

_DROP_CALLER = """
local function drop_caller(callers, entry_id)
  local raw = redis.call('HGET', callers, entry_id)
  if not raw then return nil end
  local c = cjson.decode(raw)
  for _, k in ipairs(c.keys) do redis.call('ZREM', k, c.member) end
  redis.call('HDEL', callers, entry_id)
  return raw
end
"""

_DROP_AGENT = """
local function drop_agent(agents, agent_id)
  local raw = redis.call('HGET', agents, agent_id)
  if not raw then return nil end
  local a = cjson.decode(raw)
  for _, k in ipairs(a.avail_keys) do redis.call('ZREM', k, agent_id) end
  redis.call('HDEL', agents, agent_id)
  return raw
end
"""

# KEYS: callers, registry. ARGV: entry_id, record, member, score. Returns 1 added, 0 present.
_ADD = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local c = cjson.decode(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for _, k in ipairs(c.keys) do
  redis.call('ZADD', k, ARGV[4], ARGV[3])
  redis.call('SADD', KEYS[2], k)
end
return 1
"""

# KEYS: callers. ARGV: entry_id. Returns 1 removed, 0 not waiting.
_REMOVE = (
    _DROP_CALLER
    + """
if drop_caller(KEYS[1], ARGV[1]) then return 1 end
return 0
"""
)

# KEYS: agents, registry. ARGV: agent_id, record, idle score.
_AGENT_UP = (
    _DROP_AGENT
    + """
drop_agent(KEYS[1], ARGV[1])
local a = cjson.decode(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for _, k in ipairs(a.avail_keys) do
  redis.call('ZADD', k, ARGV[3], ARGV[1])
  redis.call('SADD', KEYS[2], k)
end
return 1
"""
)

# KEYS: agents. ARGV: agent_id. Returns 1 removed, 0 was not available.
_AGENT_DOWN = (
    _DROP_AGENT
    + """
if drop_agent(KEYS[1], ARGV[1]) then return 1 end
return 0
"""
)

# KEYS: callers, agents, assignment. ARGV: entry_id, agent_id, ttl seconds, the agent's
# idle_since as read ('' for any). Returns 1 won, 2 this same claim had already won, -1 caller
# not waiting, -2 agent not available, -3 agent no longer has the caller's skill and language,
# -4 id used for another pair, -5 agent available again since it was read (new idle_since).
_CLAIM = """
local done = redis.call('HMGET', KEYS[3], 'entry_id', 'agent_id')
if done[1] then
  if done[1] == ARGV[1] and done[2] == ARGV[2] then return 2 end
  return -4
end
local craw = redis.call('HGET', KEYS[1], ARGV[1])
if not craw then return -1 end
local araw = redis.call('HGET', KEYS[2], ARGV[2])
if not araw then return -2 end
local a = cjson.decode(araw)
if ARGV[4] ~= '' and a.idle_since ~= ARGV[4] then return -5 end
local c = cjson.decode(craw)
if not redis.call('ZSCORE', c.agents_key, ARGV[2]) then return -3 end
for _, k in ipairs(c.keys) do redis.call('ZREM', k, c.member) end
redis.call('HDEL', KEYS[1], ARGV[1])
for _, k in ipairs(a.avail_keys) do redis.call('ZREM', k, ARGV[2]) end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], 'entry_id', ARGV[1], 'agent_id', ARGV[2], 'caller', craw,
           'agent', araw)
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 1
"""

# KEYS: callers, agents. ARGV: entry_id, depth, most tied agents to compare.
# Returns {} when the caller is not waiting, else {caller record, agent record...}: the
# `depth` longest-idle agents with the caller's skill and language, widened to every agent
# tied with the longest-idle one (so the level tie-break sees them all).
_READ_FOR_CALLER = """
local craw = redis.call('HGET', KEYS[1], ARGV[1])
if not craw then return {} end
local key = cjson.decode(craw).agents_key
local depth = tonumber(ARGV[2])
local head = redis.call('ZRANGE', key, 0, depth - 1, 'WITHSCORES')
if #head == 2 * depth and head[2] == head[2 * depth] then
  local s = head[2]
  head = redis.call('ZRANGEBYSCORE', key, s, s, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
end
local out = {craw}
if #head == 0 then return out end
local ids = {}
for i = 1, #head, 2 do ids[#ids + 1] = head[i] end
local recs = redis.call('HMGET', KEYS[2], unpack(ids))
for i = 1, #ids do
  if recs[i] then out[#out + 1] = recs[i] end
end
return out
"""

# KEYS: callers, agents. ARGV: agent_id, depth, offset of entry_id in a member.
# Returns {} when the agent is not available, else {agent record, score, member, caller
# record, ...}: the first `depth` callers of every waiting set the agent can serve.
_READ_FOR_AGENT = """
local araw = redis.call('HGET', KEYS[2], ARGV[1])
if not araw then return {} end
local a = cjson.decode(araw)
local depth = tonumber(ARGV[2])
local offset = tonumber(ARGV[3])
local out = {araw}
for _, k in ipairs(a.wait_keys) do
  local head = redis.call('ZRANGE', k, 0, depth - 1, 'WITHSCORES')
  for i = 1, #head, 2 do
    local rec = redis.call('HGET', KEYS[1], string.sub(head[i], offset))
    if rec then
      out[#out + 1] = head[i + 1]
      out[#out + 1] = head[i]
      out[#out + 1] = rec
    end
  end
end
return out
"""

# KEYS: callers. ARGV: entry_id. Returns the 1-based place in the caller's queue (the first
# of a record's keys), or 0 when not waiting.
_POSITION = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local c = cjson.decode(raw)
local rank = redis.call('ZRANK', c.keys[1], c.member)
if not rank then return 0 end
return rank + 1
"""

# KEYS: callers, queue zset. ARGV: last index (-1 for all), offset of entry_id in a member.
_SNAPSHOT = """
local members = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[1]))
if #members == 0 then return {} end
local out = {}
for _, m in ipairs(members) do
  local rec = redis.call('HGET', KEYS[1], string.sub(m, tonumber(ARGV[2])))
  if rec then out[#out + 1] = rec end
end
return out
"""


class ClaimOutcome(enum.Enum):
    """What a claim script answered."""

    WON = 1
    ALREADY_WON = 2  # the same assignment id, caller and agent had already won
    CALLER_GONE = -1  # hung up, removed, or taken by another agent
    AGENT_GONE = -2  # no longer available (state change, or taken for another caller)
    AGENT_INELIGIBLE = -3  # available again, but without the caller's skill or language
    ID_TAKEN = -4  # the assignment id already records another caller or agent
    AGENT_CHANGED = -5  # available, but again since it was read (a new idle_since)

    @property
    def won(self) -> bool:
        return self in (ClaimOutcome.WON, ClaimOutcome.ALREADY_WON)


BeforeClaim = Callable[[WaitingCaller, AgentCandidate], None]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _check_name(kind: str, name: str) -> None:
    if not name or ":" in name:
        raise ValueError(f"{kind} {name!r} must be non-empty and contain no ':'")


class WaitingList:
    """Waiting callers and available agents of one call centre, in Redis under `prefix`.

    Every method is one Redis round trip (the routing steps: two per attempt) and is safe to
    call from any number of threads and processes at once. Nothing here is transactional with
    the database: the caller of these methods records outcomes in the database, and
    `rebuild` restores this state from it after Redis loses it.

    `read_depth` is how many candidates a routing step reads from the head of each sorted
    set. One is enough: every member of a caller's agent pool is eligible for the caller,
    and every member of an agent's waiting sets is eligible for the agent, so the head is
    the choice (agents tied with the head are always read too, for the level tie-break).
    A claim that loses reads again, because by then the other candidates may be stale too.

    `before_claim`, if given, is called between a routing step's decision and its claim (for
    tracing, and for tests that change the state at exactly that moment).
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        rule: PriorityRule,
        *,
        max_attempts: int = 5,
        read_depth: int = 1,
        assignment_ttl: timedelta = timedelta(days=1),
        before_claim: BeforeClaim | None = None,
    ) -> None:
        if max_attempts < 1 or read_depth < 1:
            raise ValueError("max_attempts and read_depth must be at least 1")
        self.redis = redis
        self.prefix = prefix
        self.rule = rule
        self.max_attempts = max_attempts
        self.read_depth = read_depth
        self.assignment_ttl = assignment_ttl
        self.before_claim = before_claim
        self._callers = f"{prefix}callers"
        self._agents = f"{prefix}agents"
        self._registry = f"{prefix}keys"
        self._add = redis.register_script(_ADD)
        self._remove = redis.register_script(_REMOVE)
        self._agent_up = redis.register_script(_AGENT_UP)
        self._agent_down = redis.register_script(_AGENT_DOWN)
        self._claim = redis.register_script(_CLAIM)
        self._read_for_caller = redis.register_script(_READ_FOR_CALLER)
        self._read_for_agent = redis.register_script(_READ_FOR_AGENT)
        self._position = redis.register_script(_POSITION)
        self._snapshot = redis.register_script(_SNAPSHOT)

    # --- key names ----------------------------------------------------------------------

    def queue_key(self, queue: str) -> str:
        return f"{self.prefix}queue:{queue}"

    def wait_key(self, skill: str, language: str) -> str:
        return f"{self.prefix}wait:{skill}:{language}"

    def avail_key(self, skill: str, language: str) -> str:
        return f"{self.prefix}avail:{skill}:{language}"

    def assignment_key(self, assignment_id: str) -> str:
        return f"{self.prefix}assignment:{assignment_id}"

    # --- records ------------------------------------------------------------------------

    def _caller_record(self, caller: WaitingCaller, score: float) -> tuple[str, str]:
        _check_name("skill", caller.skill)
        if not caller.entry_id:
            raise ValueError("entry_id must not be empty")
        micros = _micros(caller.enqueued_at)
        if not 0 <= micros < 10**_MEMBER_DIGITS:
            raise ValueError(f"enqueued_at {caller.enqueued_at} is outside 1970..5138")
        member = f"{micros:0{_MEMBER_DIGITS}d}|{caller.entry_id}"
        record = {
            "entry_id": caller.entry_id,
            "call_sid": caller.call_sid,
            "queue": caller.queue,
            "skill": caller.skill,
            "language": caller.language,
            "tier": caller.tier,
            "route_priority": caller.route_priority,
            "enqueued_at": caller.enqueued_at.isoformat(),
            "member": member,
            "score": score,
            "keys": [
                self.queue_key(caller.queue),
                self.wait_key(caller.skill, caller.language),
            ],
            "agents_key": self.avail_key(caller.skill, caller.language),
        }
        return json.dumps(record, separators=(",", ":")), member

    def _agent_record(self, agent: AgentCandidate) -> str:
        if agent.state != AVAILABLE:
            raise ValueError(f"agent {agent.agent_id!r} is {agent.state!r}, not {AVAILABLE!r}")
        if not agent.agent_id:
            raise ValueError("agent_id must not be empty")
        skills = dict(sorted(agent.skills.items()))
        for skill in skills:
            _check_name("skill", skill)
        languages = sorted(agent.languages)
        pairs = [(s, lang) for s, level in skills.items() if level > 0 for lang in languages]
        record = {
            "agent_id": agent.agent_id,
            "skills": skills,
            "languages": languages,
            "idle_since": agent.idle_since.isoformat(),
            "avail_keys": [self.avail_key(s, lang) for s, lang in pairs],
            "wait_keys": [self.wait_key(s, lang) for s, lang in pairs],
        }
        return json.dumps(record, separators=(",", ":"))

    @staticmethod
    def _caller_from(record: bytes | str) -> WaitingCaller:
        d = json.loads(record)
        return WaitingCaller(
            entry_id=d["entry_id"],
            call_sid=d["call_sid"],
            queue=d["queue"],
            skill=d["skill"],
            language=d["language"],
            tier=d["tier"],
            route_priority=d["route_priority"],
            enqueued_at=datetime.fromisoformat(d["enqueued_at"]),
        )

    @staticmethod
    def _agent_from(record: bytes | str) -> AgentCandidate:
        d = json.loads(record)
        return AgentCandidate(
            agent_id=d["agent_id"],
            skills=dict(d["skills"]),
            languages=frozenset(d["languages"]),
            state=AVAILABLE,
            idle_since=datetime.fromisoformat(d["idle_since"]),
        )

    # --- callers ------------------------------------------------------------------------

    def add(self, caller: WaitingCaller, score: float | None = None) -> bool:
        """Put a caller on the waiting list; True if added, False if the entry was already there.

        Idempotent by `entry_id`: adding an entry that is waiting changes nothing (it keeps
        its place and score), so a repeated webhook or job is harmless. `score` defaults to
        the rule's `queue_score`; pass one only to restore a known place.
        """
        value = self.rule.score(caller) if score is None else score
        record, member = self._caller_record(caller, value)
        added = self._add(
            keys=[self._callers, self._registry], args=[caller.entry_id, record, member, value]
        )
        return bool(added)

    def remove(self, entry_id: str) -> bool:
        """Take a caller off the waiting list (hung up, overflowed, ...); False if not waiting.

        Idempotent. A claim racing with a removal: exactly one of them finds the caller.
        """
        return bool(self._remove(keys=[self._callers], args=[entry_id]))

    def waiting(self, entry_id: str) -> WaitingCaller | None:
        """The caller of a waiting entry, or None if it is not waiting."""
        raw = self.redis.hget(self._callers, entry_id)
        return None if raw is None else self._caller_from(raw)

    def position(self, entry_id: str) -> int | None:
        """The caller's 1-based place in their queue (priority order), or None if not waiting."""
        return int(self._position(keys=[self._callers], args=[entry_id])) or None

    def snapshot(self, queue: str, limit: int | None = None) -> list[WaitingCaller]:
        """The callers waiting in a queue, in the order they will be served (one atomic read)."""
        last = -1 if limit is None else limit - 1
        if last < -1:
            return []
        raws = self._snapshot(
            keys=[self._callers, self.queue_key(queue)], args=[last, _MEMBER_DIGITS + 2]
        )
        return [self._caller_from(r) for r in raws]

    def waiting_count(self, queue: str | None = None) -> int:
        """How many callers wait in a queue, or in all queues."""
        if queue is None:
            return int(self.redis.hlen(self._callers))
        return int(self.redis.zcard(self.queue_key(queue)))

    # --- agents -------------------------------------------------------------------------

    def agent_available(self, agent: AgentCandidate) -> None:
        """Record an agent as available with their skills, languages and idle-since time.

        Replaces whatever was recorded for the agent (so a skills change takes effect).
        Raises ValueError unless `agent.state` is `available`.
        """
        record = self._agent_record(agent)
        self._agent_up(
            keys=[self._agents, self._registry],
            args=[agent.agent_id, record, agent.idle_since.timestamp()],
        )

    def agent_unavailable(self, agent_id: str) -> bool:
        """The agent may no longer be offered callers; False if they were not available.

        A claim racing with this: exactly one of them finds the agent available.
        """
        return bool(self._agent_down(keys=[self._agents], args=[agent_id]))

    def agent(self, agent_id: str) -> AgentCandidate | None:
        """The available agent as recorded, or None when not available."""
        raw = self.redis.hget(self._agents, agent_id)
        return None if raw is None else self._agent_from(raw)

    def available_agents(self) -> list[AgentCandidate]:
        """Every available agent, longest idle first (reads them all: for sweeps and views)."""
        agents = [self._agent_from(r) for r in self.redis.hvals(self._agents)]
        return sorted(agents, key=lambda a: (a.idle_since, a.agent_id))

    # --- claims and routing steps -----------------------------------------------------------

    def claim_outcome(
        self,
        entry_id: str,
        agent_id: str,
        assignment_id: str,
        *,
        as_read: AgentCandidate | None = None,
    ) -> ClaimOutcome:
        """Atomically give a waiting caller to an available agent; see `ClaimOutcome`.

        Wins only if, at that instant, the caller is waiting and the agent is available with
        the caller's skill and language (and, given `as_read`, still in the same spell of
        availability: an agent who went away and came back since is a new decision). Then,
        in the same step, both leave the waiting list and the agent pool, and the assignment
        is recorded under `assignment_id` (kept for `assignment_ttl`). Repeating a won claim
        with the same three values answers ALREADY_WON and changes nothing.
        """
        expected = "" if as_read is None else as_read.idle_since.isoformat()
        code = self._claim(
            keys=[self._callers, self._agents, self.assignment_key(assignment_id)],
            args=[
                entry_id,
                agent_id,
                max(1, int(self.assignment_ttl.total_seconds())),
                expected,
            ],
        )
        return ClaimOutcome(int(code))

    def claim(self, entry_id: str, agent_id: str, assignment_id: str) -> bool:
        """True if the claim won (or had already won); see `claim_outcome`."""
        return self.claim_outcome(entry_id, agent_id, assignment_id).won

    def assignment(self, assignment_id: str) -> Assignment | None:
        """A recorded assignment (while its TTL lasts), or None."""
        raw = self.redis.hmget(self.assignment_key(assignment_id), ["caller", "agent"])
        if raw[0] is None or raw[1] is None:
            return None
        return Assignment(assignment_id, self._caller_from(raw[0]), self._agent_from(raw[1]))

    def candidates_for_caller(
        self, entry_id: str
    ) -> tuple[WaitingCaller, list[AgentCandidate]] | None:
        """The waiting caller and the longest-idle agents who could take them (one read).

        None when the caller is not waiting. The agents are the head of the caller's
        skill x language pool (at least `read_depth`, and every agent tied with the first).
        """
        raws = self._read_for_caller(
            keys=[self._callers, self._agents], args=[entry_id, self.read_depth, _TIE_LIMIT]
        )
        if not raws:
            return None
        return self._caller_from(raws[0]), [self._agent_from(r) for r in raws[1:]]

    def candidates_for_agent(
        self, agent_id: str
    ) -> tuple[AgentCandidate, list[WaitingCaller]] | None:
        """The available agent and the first callers they could take, in priority order.

        None when the agent is not available. The callers are the first `read_depth` of each
        skill x language waiting set the agent can serve, merged by score.
        """
        raws: Sequence[bytes | str] = self._read_for_agent(
            keys=[self._callers, self._agents],
            args=[agent_id, self.read_depth, _MEMBER_DIGITS + 2],
        )
        if not raws:
            return None
        heads = [
            (float(raws[i]), _text(raws[i + 1]).encode(), raws[i + 2])
            for i in range(1, len(raws), 3)
        ]
        heads.sort(key=lambda h: (h[0], h[1]))  # Redis's own order: score, then member bytes
        return self._agent_from(raws[0]), [self._caller_from(h[2]) for h in heads]

    def assign_for_caller(
        self, entry_id: str, now: datetime, *, assignment_id: str | None = None
    ) -> Assignment | None:
        """Give this waiting caller to the longest-idle eligible agent, atomically.

        Reads the candidates, decides with `routing.choose_agent`, claims. If the agent was
        taken or changed state in between (even if they are available again since), it
        reads again and tries the new best candidate, up to `max_attempts` times.

        None when the caller is not waiting (hung up, or already taken by an agent's own
        routing step), when no eligible agent is available, or when every attempt lost a
        race (logged; the periodic sweep will route the caller).

        Idempotent with an explicit `assignment_id`: if that id already won, the recorded
        assignment is returned again and nothing changes.
        """
        aid = assignment_id or uuid.uuid4().hex
        if assignment_id is not None and (done := self.assignment(assignment_id)):
            return done
        for _ in range(self.max_attempts):
            read = self.candidates_for_caller(entry_id)
            if read is None:
                return None
            caller, agents = read
            agent = choose_agent(agents, caller, now)
            if agent is None:
                return None
            outcome = self._decide(caller, agent, aid)
            if outcome.won:
                return Assignment(aid, caller, agent)
            if outcome is ClaimOutcome.CALLER_GONE:
                return None
        log.warning("routing caller %s: lost %d races in a row", entry_id, self.max_attempts)
        return None

    def assign_for_agent(
        self, agent_id: str, now: datetime, *, assignment_id: str | None = None
    ) -> Assignment | None:
        """Give this available agent the first waiting caller they may take, atomically.

        The dual of `assign_for_caller` (`now` is unused by the choice, which is by queue
        order; it is taken for symmetry and future rules). Reads, decides with
        `routing.choose_caller`, claims; if the caller was taken or hung up in between (or
        the agent's record changed), it reads again, up to `max_attempts` times. None when
        the agent is not available, no caller is eligible, or every attempt lost a race.
        Idempotent with an explicit `assignment_id`, as `assign_for_caller`.
        """
        del now
        aid = assignment_id or uuid.uuid4().hex
        if assignment_id is not None and (done := self.assignment(assignment_id)):
            return done
        for _ in range(self.max_attempts):
            read = self.candidates_for_agent(agent_id)
            if read is None:
                return None
            agent, callers = read
            caller = choose_caller(callers, agent)
            if caller is None:
                return None
            outcome = self._decide(caller, agent, aid)
            if outcome.won:
                return Assignment(aid, caller, agent)
            if outcome is ClaimOutcome.AGENT_GONE:
                return None
        log.warning("routing agent %s: lost %d races in a row", agent_id, self.max_attempts)
        return None

    def _decide(self, caller: WaitingCaller, agent: AgentCandidate, aid: str) -> ClaimOutcome:
        if self.before_claim is not None:
            self.before_claim(caller, agent)
        outcome = self.claim_outcome(caller.entry_id, agent.agent_id, aid, as_read=agent)
        if outcome is ClaimOutcome.ID_TAKEN:
            raise ValueError(f"assignment id {aid!r} already records another caller or agent")
        return outcome

    def sweep(self, now: datetime, *, limit: int = 10_000) -> list[Assignment]:
        """Route every available agent who has an eligible caller waiting (the timer's safety net).

        Agents are offered callers longest-idle first; at most `limit` assignments. Reads the
        whole agent pool, so it is O(agents): for a periodic job, not for every webhook.
        """
        made: list[Assignment] = []
        for agent in self.available_agents():
            if len(made) >= limit:
                break
            if (done := self.assign_for_agent(agent.agent_id, now)) is not None:
                made.append(done)
        return made

    # --- rebuild ------------------------------------------------------------------------

    def rebuild(
        self, waiting_callers: Iterable[WaitingCaller], available_agents: Iterable[AgentCandidate]
    ) -> None:
        """Replace the waiting list and agent pool with these (read from the database).

        For `callcenter queues rebuild` after Redis lost its data. Scores are recomputed with
        the same rule, so every caller gets back their old place. One MULTI/EXEC: other
        processes see the old state or the new one, never a mix. Assignment records are kept.
        Raises ValueError on a duplicate entry or agent id, or an agent not `available`.
        """
        callers: dict[str, tuple[str, str, float, list[str]]] = {}
        for caller in waiting_callers:
            if caller.entry_id in callers:
                raise ValueError(f"entry {caller.entry_id!r} is listed twice")
            score = self.rule.score(caller)
            record, member = self._caller_record(caller, score)
            keys = [self.queue_key(caller.queue), self.wait_key(caller.skill, caller.language)]
            callers[caller.entry_id] = (record, member, score, keys)
        agents: dict[str, tuple[str, float, list[str]]] = {}
        for agent in available_agents:
            if agent.agent_id in agents:
                raise ValueError(f"agent {agent.agent_id!r} is listed twice")
            record = self._agent_record(agent)
            agents[agent.agent_id] = (
                record,
                agent.idle_since.timestamp(),
                json.loads(record)["avail_keys"],
            )

        def replace(pipe: Pipeline) -> None:
            old = [_text(k) for k in pipe.smembers(self._registry)]
            pipe.multi()
            pipe.delete(self._callers, self._agents, self._registry, *old)
            used: set[str] = set()
            for entry_id, (record, member, score, keys) in callers.items():
                pipe.hset(self._callers, entry_id, record)
                for key in keys:
                    pipe.zadd(key, {member: score})
                used.update(keys)
            for agent_id, (record, idle, keys) in agents.items():
                pipe.hset(self._agents, agent_id, record)
                for key in keys:
                    pipe.zadd(key, {agent_id: idle})
                used.update(keys)
            if used:
                pipe.sadd(self._registry, *sorted(used))

        self.redis.transaction(replace, self._registry)

    def clear(self) -> None:
        """Delete every key under the prefix (assignments too): for benchmarks and tear-down."""
        batch: list[Any] = []
        for key in self.redis.scan_iter(match=f"{_glob_escape(self.prefix)}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self.redis.delete(*batch)
                batch.clear()
        if batch:
            self.redis.delete(*batch)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in text)
