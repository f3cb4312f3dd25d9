-- wrk script for `make bench`'s DPoP rows: each request carries the next proof of a file made beforehand
-- (one a line; a proof is accepted once), beside the Authorization header given with -H. With several
-- threads, each sends its own share of the lines (thread n of T: lines n, n + T, n + 2T...).
-- Usage: wrk -t2 ... -H "Authorization: DPoP <token>" -s bench/dpop.lua URL -- proofs.txt 2

local proofs = {}
local sent = 0
local headers = {}
local shares = 0

function setup(thread)
  thread:set("share", shares) -- a global of that thread's own script
  shares = shares + 1
end

function init(args)
  local threads, line_number = tonumber(args[2]) or 1, 0
  for line in io.lines(args[1]) do
    if line_number % threads == share then
      proofs[#proofs + 1] = line
    end
    line_number = line_number + 1
  end
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
end

function request()
  sent = sent + 1
  headers["DPoP"] = proofs[sent] or proofs[#proofs] -- past the end: a replay, which the API refuses (counted)
  return wrk.format(nil, nil, headers)
end
