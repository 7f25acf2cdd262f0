"""The Redis store's Lua scripts: the rules of ``_rate`` and ``_journal``, run atomically.

``_rate`` is the package's rate rule (``extruct_async._rate``), which the gate and the
other stores run in Python; ``TAKE_START`` is its mirror.

Every script reads the clock with ``TIME`` (plus ``ARGV[1]``, an offset in
microseconds that is 0 outside tests), so all clients, on whatever machine, decide
on the server's clock. Times are integer microseconds since the epoch: exact in a
Lua double, and written with ``%.0f`` because Lua's default number formatting keeps
only 14 digits. All keys of a namespace share the hash tag ``{namespace}``.
"""

from __future__ import annotations

__all__ = [
    "CLAIM",
    "JOURNAL_COMPLETE",
    "JOURNAL_RELEASE",
    "JOURNAL_RENEW",
    "JOURNAL_RESERVE",
    "PAUSE",
    "TAKE_START",
]

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2]) + tonumber(ARGV[1])
local function fmt(x) return string.format('%.0f', x) end
"""

#: ``_rate.take``, mirrored: ``ready_at``, then ``record`` at that moment (or now).
#: KEYS: rate hash (next, paused), start log (list, newest first).
#: ARGV: offset, limited (1/0), window (burst * second / rate, us), burst, cap per second,
#: log length, the rule's second (us; 1000000 unless stretched for headroom).
#: Returns {wait_us, now_us}: the start is taken at now + wait (nothing is recorded
#: without a limit: the wait is the pause's).
TAKE_START = (
    _NOW
    + """
local state = redis.call('HMGET', KEYS[1], 'next', 'paused')
local next_start = tonumber(state[1])
local paused = tonumber(state[2]) or 0
local ready = paused
local limited = ARGV[2] == '1'
local window = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local span = tonumber(ARGV[7])
if limited then
    if burst == 1 then
        if next_start and next_start > ready then ready = next_start end
    else
        local oldest = redis.call('LINDEX', KEYS[2], burst - 1)
        if oldest and tonumber(oldest) + window > ready then ready = tonumber(oldest) + window end
    end
    local capped = redis.call('LINDEX', KEYS[2], tonumber(ARGV[5]) - 1)
    if capped and tonumber(capped) + span > ready then ready = tonumber(capped) + span end
end
local at = now
if ready > now then at = ready end
if not limited then return {at - now, now} end
if burst == 1 then
    if not next_start or at > next_start + window then
        next_start = at + window
    else
        next_start = next_start + window
    end
    redis.call('HSET', KEYS[1], 'next', fmt(next_start))
    local ttl = math.max(window, paused - at) + at - now
    redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000) + 1000)
end
redis.call('LPUSH', KEYS[2], fmt(at))
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
local horizon = at - math.max(span, window)
while true do  -- starts too old for either bound: a high rate stays cheap
    local oldest = redis.call('LINDEX', KEYS[2], -1)
    if not oldest or tonumber(oldest) >= horizon then break end
    redis.call('RPOP', KEYS[2])
end
local kept = math.max(window, span) + at - now
redis.call('PEXPIRE', KEYS[2], math.ceil(kept / 1000) + 2000)
return {at - now, now}
"""
)

#: KEYS: rate hash. ARGV: offset, seconds (us). Returns now (us).
PAUSE = (
    _NOW
    + """
local paused = now + tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], 'paused'))
if current and current > paused then paused = current end
redis.call('HSET', KEYS[1], 'paused', fmt(paused))
local ttl = math.ceil((paused - now) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return now
"""
)

#: The journal is one hash per namespace (key -> the entry as JSON, times as strings
#: of microseconds: cjson keeps only 14 digits of a number) and one sorted set, its
#: index, ordered by member.
_ENTRY = """
local function load(key)
    local raw = redis.call('HGET', KEYS[1], key)
    if raw then return cjson.decode(raw) end
    return nil
end
local function save(entry)
    local raw = cjson.encode(entry)
    redis.call('HSET', KEYS[1], entry.key, raw)
    return raw
end
"""

#: KEYS: journal hash, journal index. ARGV: offset, key, index member, body, owner,
#: lease (us), run ('' for none), has run (1/0), position ('' for none).
#: Returns {outcome, wait_us, entry JSON}.
JOURNAL_RESERVE = (
    _NOW
    + _ENTRY
    + """
local entry = load(ARGV[2])
local outcome = 'reserved'
local wait = 0
local raw
if not entry then
    entry = {key = ARGV[2], member = ARGV[3], body_json = ARGV[4], state = 'sending',
             owner = ARGV[5], reserved_at = fmt(now), lease_until = fmt(now + tonumber(ARGV[6]))}
    if ARGV[8] == '1' then entry.run = ARGV[7] end
    if ARGV[9] ~= '' then entry.position = tonumber(ARGV[9]) end
    raw = save(entry)
    redis.call('ZADD', KEYS[2], 0, ARGV[3])
elseif entry.state == 'created' then
    outcome = 'created'
else
    local held = tonumber(entry.lease_until) or now
    if held > now then
        outcome = 'busy'
        wait = held - now
    else
        outcome = 'taken_over'
        entry.owner = ARGV[5]
        entry.lease_until = fmt(now + tonumber(ARGV[6]))
    end
end
return {outcome, wait, raw or save(entry)}
"""
)

#: KEYS: journal hash. ARGV: offset, key, owner, lease (us). Returns 1 if renewed, else 0.
JOURNAL_RENEW = (
    _NOW
    + _ENTRY
    + """
local entry = load(ARGV[2])
if not entry or entry.state ~= 'sending' or entry.owner ~= ARGV[3] then return 0 end
entry.lease_until = fmt(now + tonumber(ARGV[4]))
save(entry)
return 1
"""
)

#: KEYS: journal hash. ARGV: key, task id, created_at. Returns the recorded task id,
#: or false (nil) when there is no entry.
JOURNAL_COMPLETE = (
    _ENTRY
    + """
local entry = load(ARGV[1])
if not entry then return false end
if entry.state == 'created' then return entry.task_id end
entry.state = 'created'
entry.task_id = ARGV[2]
entry.created_at = ARGV[3]
entry.lease_until = nil
save(entry)
return ARGV[2]
"""
)

#: KEYS: journal hash, journal index. ARGV: key, owner. Returns 1 if released, else 0.
JOURNAL_RELEASE = (
    _ENTRY
    + """
local entry = load(ARGV[1])
if not entry or entry.state ~= 'sending' or entry.owner ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], entry.member)
return 1
"""
)

#: KEYS: claims hash (task id -> claimant: "" anonymous, "=" + name otherwise).
#: ARGV: task id, claimant. Returns 1 if the caller holds the claim now, else 0.
CLAIM = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then return 1 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 1 end
return 0
"""
