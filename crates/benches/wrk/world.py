"""Sets up a stadium on a running Boxoffice server for wrk, and writes the
wrk script that reserves there.

    python3 world.py PORT ADMIN_TOKEN BUYERS PERFORMANCES LUA_OUT

Creates one city, one stadium venue (crates/api/data/venue-layouts.json),
PERFORMANCES performances on sale and BUYERS registered buyers, then writes
LUA_OUT: a wrk script whose every request reserves one ticket of a section
by quantity, cycling through (performance, buyer, section), so no buyer
reaches the per-user maximum of 100 before BUYERS x PERFORMANCES x 100
reserves. It counts answers by status and prints them when wrk is done.
"""

import http.client
import json
import pathlib
import sys

LAYOUTS = pathlib.Path(__file__).resolve().parents[2] / "api" / "data" / "venue-layouts.json"


def main(port, admin, buyers, performances, lua_out):
    server = Server(port, admin)
    stadium = next(l for l in json.loads(LAYOUTS.read_text())["layouts"] if l["id"] == "stadium")
    city = server.post("/cities", {"name": "Zürich", "country": "CH",
                                   "time_zone": "Europe/Zurich", "currency": "CHF"}, admin=True)
    venue = server.post(f"/cities/{city}/venues", {"name": "Bench Stadium", "layout": stadium},
                        admin=True)
    shows = [server.post(f"/cities/{city}/venues/{venue}/performances",
                         {"title": "Bench Night", "start_local": "2035-10-27T20:00:00",
                          "on_sale": "2020-01-01T00:00:00Z", "order_max": 10, "user_max": 100},
                         admin=True)
             for _ in range(performances)]
    accounts = [server.sign_up(n) for n in range(buyers)]
    sections = [section["name"] for section in stadium["sections"]]
    pathlib.Path(lua_out).write_text(wrk_script(shows, accounts, sections))


class Server:
    def __init__(self, port, admin):
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        self.admin = admin

    def post(self, path, body, admin=False):
        return self.call(path, body, self.admin if admin else None)["id"]

    def sign_up(self, n):
        body = {"name": f"Buyer {n}", "email": f"buyer{n}@bench.example",
                "phone": "+41 44 000 00 00"}
        account = self.call("/users", body, None)
        return account["id"], account["token"]

    def call(self, path, body, token):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.connection.request("POST", path, json.dumps(body), headers)
        response = self.connection.getresponse()
        text = response.read()
        if response.status != 201:
            sys.exit(f"POST {path}: {response.status} {text!r}")
        return json.loads(text)


def wrk_script(shows, accounts, sections):
    rows = []
    for show in shows:
        for n, (user, token) in enumerate(accounts):
            body = json.dumps({"performance_id": show, "section": sections[n % len(sections)],
                               "quantity": 1})
            rows.append("{%s, %s, %s}" % (json.dumps(f"/users/{user}/tickets"),
                                          json.dumps(f"Bearer {token}"), json.dumps(body)))
    return LUA.replace("ROWS", ",\n".join(rows))


# Requests are formatted in init(), once wrk has set the Host header.
LUA = """
local rows = {
ROWS
}
local requests = {}
local next_request = 0
codes = {}
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args)
  for _, row in ipairs(rows) do
    local headers = {["Authorization"] = row[2], ["Content-Type"] = "application/json"}
    table.insert(requests, wrk.format("POST", row[1], headers, row[3]))
  end
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("codes")) do
      io.write("status ", status, ": ", count, "\\n")
    end
  end
end
"""

if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
