-- The shared queue's search, atomic in Redis: pair the searcher with the oldest compatible
-- stranger waiting on any node, or keep it waiting. One script, so no stranger is ever claimed
-- twice and one who left is never claimed.
--
-- ARGV: 1 prefix, 2 mode, 3 searcher id, 4 open ("1": takes anyone), 5 its keys (JSON, handed
-- to its partner), 6 whom it must not meet ("p:ID" / "k:KEY", newline separated), 7 its
-- interests (newline separated), 8 its node, 9 who it is ("p:ID" and "k:KEY").
-- Returns nil (now waiting) or {partner, partner's place, searcher's place, partner's interests,
-- partner's keys}; the smaller place waited longer.
--
-- Keys: PREFIX:q:MODE:all / :open / :tag:TAG (sorted sets scored by place),
-- PREFIX:s:ID (the searcher's hash), PREFIX:seq (places), PREFIX:nodeq:NODE (a node's searchers).
local p, mode, peer, open, keys, excl, tags, node, who =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]

local function split(s)
  local t = {}
  for x in string.gmatch(s or '', '[^\n]+') do t[#t + 1] = x end
  return t
end

local function set_of(list)
  local s = {}
  for _, x in ipairs(list) do s[x] = true end
  return s
end

-- Take a searcher out of every index.
local function remove(id)
  local h = p .. ':s:' .. id
  local f = redis.call('HMGET', h, 'mode', 'tags', 'node')
  if not f[1] then return end
  local q = p .. ':q:' .. f[1]
  redis.call('ZREM', q .. ':all', id)
  redis.call('ZREM', q .. ':open', id)
  for _, t in ipairs(split(f[2])) do redis.call('ZREM', q .. ':tag:' .. t, id) end
  redis.call('SREM', p .. ':nodeq:' .. (f[3] or ''), id)
  redis.call('DEL', h)
end

local q = p .. ':q:' .. mode
-- A searcher already waiting keeps its place.
local seq = redis.call('HGET', p .. ':s:' .. peer, 'seq')
remove(peer)
if not seq then seq = redis.call('INCR', p .. ':seq') end

local mine = split(tags)
local excluded = set_of(split(excl))
local me = split(who)

-- Whether the searcher may meet candidate `c`: neither keeps the other away.
local function ok(c)
  if c == peer then return false end
  local f = redis.call('HMGET', p .. ':s:' .. c, 'who', 'excl')
  for _, w in ipairs(split(f[1])) do
    if excluded[w] then return false end
  end
  local theirs = set_of(split(f[2]))
  for _, w in ipairs(me) do
    if theirs[w] then return false end
  end
  return true
end

-- The oldest acceptable searcher in a sorted set, with its place.
local function first(z)
  local list = redis.call('ZRANGE', z, 0, 31, 'WITHSCORES')
  for i = 1, #list, 2 do
    if ok(list[i]) then return list[i], tonumber(list[i + 1]) end
  end
  return nil, nil
end

local best, score = nil, nil
for _, t in ipairs(mine) do
  local c, s = first(q .. ':tag:' .. t)
  if c and (not score or s < score) then best, score = c, s end
end
if not best and open == '1' then best, score = first(q .. ':open') end

if best then
  local f = redis.call('HMGET', p .. ':s:' .. best, 'tags', 'keys')
  remove(best)
  return {best, tostring(score), tostring(seq), f[1] or '', f[2] or ''}
end

redis.call('ZADD', q .. ':all', seq, peer)
if open == '1' then redis.call('ZADD', q .. ':open', seq, peer) end
for _, t in ipairs(mine) do redis.call('ZADD', q .. ':tag:' .. t, seq, peer) end
redis.call('HSET', p .. ':s:' .. peer, 'mode', mode, 'seq', seq, 'tags', tags, 'keys', keys,
  'who', who, 'excl', excl, 'node', node)
redis.call('SADD', p .. ':nodeq:' .. node, peer)
return nil
