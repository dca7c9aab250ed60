-- wrk script for the typed-json workload: POST benchmarks/item.json (run
-- from the repository root, as benchmarks/run.sh does) with a JSON
-- content type to the URL given on wrk's command line (/items/42).
local file = assert(io.open("benchmarks/item.json", "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
