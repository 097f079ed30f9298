-- wrk script: replay sessions click by click against `python -m session_recs serve`.
--
--   wrk -t2 -c32 -d15s -s benchmarks/wrk_replay.lua http://127.0.0.1:8000 -- PATHS RATE 2 RUN
--
-- (the third argument repeats -t: each thread's script sees only its own id)
--
-- PATHS is a file of lines "N /v1/recommend?session_id=S&item=I&k=K", N the session's
-- ordinal: the clicks of each session in order, sessions interleaved (so that a session's
-- next click comes many requests after the one before). Thread t of T sends the sessions
-- whose N mod T is t, in the file's order, starting over at the end with the session ids
-- made new (a prefix per round), so that no replayed session grows past its real length.
-- (wrk asks each thread for one request before the run and never sends it: that thread's
-- first click is left out, once per run.)
--
-- RUN (optional) prefixes every session id of this run: give each wrk run against the
-- same service its own, or a run continues the sessions the run before left in the
-- service, which then answer longer sessions than the file's.
--
-- RATE (requests per second, all threads together; 0 or absent: as fast as possible)
-- paces the requests on a fixed schedule: each thread sends its next request at
-- start + n / (RATE / T), whichever of its connections is free then, so the offered rate
-- does not fall when answers slow down (unless every connection is waiting).
--
-- At the end one JSON line starting with "RESULT " gives the requests, the seconds, the
-- errors and the latency percentiles in milliseconds.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } replay_timespec;
int clock_gettime(int clk_id, replay_timespec *tp);
]]
local clock = ffi.new("replay_timespec")

local function now_ms()
    ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
    return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end

function init(args)
    local paths_file, rate = args[1], tonumber(args[2] or "0") or 0
    local total = tonumber(args[3] or "1") or 1
    run = args[4] or ""
    paths = {}
    for line in io.lines(paths_file) do
        local ordinal, path = line:match("^(%d+) (.+)$")
        if ordinal ~= nil and tonumber(ordinal) % total == id then
            table.insert(paths, path)
        end
    end
    if #paths == 0 then
        error("no request paths for thread " .. id .. " in " .. paths_file)
    end
    at = 0
    round = 0
    interval = rate > 0 and (1000.0 * total / rate) or 0
    next_send = nil
end

function delay()
    if interval == 0 then
        return 0
    end
    local now = now_ms()
    if next_send == nil then
        next_send = now
    end
    local wait = next_send - now
    next_send = next_send + interval
    if wait < 0 then
        return 0
    end
    return wait
end

function request()
    at = at + 1
    if at > #paths then
        at = 1
        round = round + 1
    end
    local path = paths[at]
    local prefix = run
    if round > 0 then
        prefix = prefix .. "r" .. round .. "-"
    end
    if prefix ~= "" then
        path = path:gsub("session_id=", "session_id=" .. prefix, 1)
    end
    return wrk.format("GET", path)
end

function done(summary, latency, requests)
    local errors = summary.errors
    local failed = errors.connect + errors.read + errors.write + errors.status + errors.timeout
    io.write(string.format(
        'RESULT {"requests": %d, "seconds": %.3f, "failed": %d, "non_2xx": %d, '
            .. '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
        summary.requests, summary.duration / 1e6, failed, errors.status,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000
    ))
end
