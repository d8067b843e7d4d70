-- Take a dead node's searchers out of the shared queue and its rooms out of the registry, in one
-- step. ARGV: 1 prefix, 2 node.
-- Does nothing (returns -1) if the node is alive after all (its liveness key is back).
local p, n = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. ':alive:' .. n) == 1 then return -1 end
local ids = redis.call('SMEMBERS', p .. ':nodeq:' .. n)
for _, id in ipairs(ids) do
  local h = p .. ':s:' .. id
  local f = redis.call('HMGET', h, 'mode', 'tags')
  if f[1] then
    local q = p .. ':q:' .. f[1]
    redis.call('ZREM', q .. ':all', id)
    redis.call('ZREM', q .. ':open', id)
    for t in string.gmatch(f[2] or '', '[^\n]+') do redis.call('ZREM', q .. ':tag:' .. t, id) end
    redis.call('DEL', h)
  end
end
redis.call('DEL', p .. ':nodeq:' .. n)
-- Its rooms have no home now: the next join for one makes its node the home.
for _, room in ipairs(redis.call('SMEMBERS', p .. ':rooms:' .. n)) do
  if redis.call('GET', p .. ':room:' .. room) == n then redis.call('DEL', p .. ':room:' .. room) end
end
redis.call('DEL', p .. ':rooms:' .. n)
redis.call('SREM', p .. ':nodes', n)
redis.call('HDEL', p .. ':online', n)
return #ids
