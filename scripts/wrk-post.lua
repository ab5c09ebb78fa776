-- wrk script for scripts/bench.sh: POSTs the JSON body given in WRK_BODY.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("WRK_BODY")
