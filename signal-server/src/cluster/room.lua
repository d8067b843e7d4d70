-- The room registry: which node is each named room's home. ARGV: 1 prefix, 2 room, 3 this
-- node, 4 operation:
--   route: the room's home; this node becomes it if the room has none or its home stopped
--          beating. Returns {home, 1 if home is this node (it may create the room), else 0}.
--   free:  this node is no longer the room's home (it emptied). Returns {this node, 0}.
-- Each node's rooms are also listed under rooms:NODE, so that a dead node's can be reaped.
local p, room, node, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = p .. ':room:' .. room
local home = redis.call('GET', key)
if op == 'free' then
  if home == node then redis.call('DEL', key) end
  redis.call('SREM', p .. ':rooms:' .. node, room)
  return {node, 0}
end
if home and home ~= node and redis.call('EXISTS', p .. ':alive:' .. home) == 1 then
  return {home, 0}
end
if home and home ~= node then redis.call('SREM', p .. ':rooms:' .. home, room) end
redis.call('SET', key, node)
redis.call('SADD', p .. ':rooms:' .. node, room)
return {node, 1}
