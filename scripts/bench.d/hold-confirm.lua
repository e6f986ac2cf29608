-- wrk script: every connection (one per thread) loops hold -> confirm on
-- its own seats, as its own user.  Environment: BENCH_EVENT, BENCH_SEATS
-- (file, one seat id per line), BENCH_TOKENS (file, one token per line).

local threads = {}
local counter = 0

local function lines(path)
    local t = {}
    for l in io.lines(path) do t[#t + 1] = l end
    return t
end

function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
    table.insert(threads, thread)
end

function init(args)
    event = os.getenv("BENCH_EVENT")
    local seats = lines(os.getenv("BENCH_SEATS"))
    local tokens = lines(os.getenv("BENCH_TOKENS"))
    nthreads = tonumber(os.getenv("BENCH_THREADS"))
    token = tokens[id]
    mine = {}
    for i = id, #seats, nthreads do mine[#mine + 1] = seats[i] end
    next_seat = 1
    hold_id = nil
    holds, confirms, refused, failed = 0, 0, 0, 0
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
    if hold_id then
        return wrk.format("POST", "/api/v1/bookings/confirm", nil,
            '{"hold_id":"' .. hold_id .. '","event_id":"' .. event ..
            '","payment_method":"mock"}')
    end
    local seat = mine[next_seat] or mine[#mine]
    next_seat = next_seat + 1
    return wrk.format("POST", "/api/v1/seats/hold", nil,
        '{"event_id":"' .. event .. '","seat_ids":["' .. seat .. '"]}')
end

function response(status, headers, body)
    if hold_id then
        hold_id = nil
        if status == 201 then confirms = confirms + 1
        else failed = failed + 1 end
        return
    end
    if status == 201 then
        holds = holds + 1
        hold_id = body:match('"hold_id":"([0-9a-f-]+)"')
    elseif status == 409 then
        refused = refused + 1
    else
        failed = failed + 1
    end
end

function done(summary, latency, requests)
    local h, c, r, f = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        h = h + t:get("holds")
        c = c + t:get("confirms")
        r = r + t:get("refused")
        f = f + t:get("failed")
    end
    local secs = summary.duration / 1e6
    io.write(string.format(
        "flows: %d holds, %d confirmed bookings, %d refused, %d failed\n",
        h, c, r, f))
    io.write(string.format(
        "hold->confirm: %.1f bookings/s, %.1f requests/s, " ..
        "latency p50 %.2f ms, p99 %.2f ms\n",
        c / secs, summary.requests / secs,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
