-- wrk script for `make bench`'s DPoP rows: each request carries the next proof of a file made beforehand
-- (one a line; a proof is accepted once), beside the Authorization header given with -H.
-- Usage: wrk -t1 ... -H "Authorization: DPoP <token>" -s bench/dpop.lua URL -- proofs.txt

local proofs = {}
local sent = 0
local headers = {}

function init(args)
  for line in io.lines(args[1]) do
    proofs[#proofs + 1] = line
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
