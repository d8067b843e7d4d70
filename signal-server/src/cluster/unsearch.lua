-- Take a searcher out of the shared queue (it stopped, left or searches anew). ARGV: 1 prefix,
-- 2 searcher id. Returns 1 if it was waiting.
local p, id = ARGV[1], ARGV[2]
local h = p .. ':s:' .. id
local f = redis.call('HMGET', h, 'mode', 'tags', 'node')
if not f[1] then return 0 end
local q = p .. ':q:' .. f[1]
redis.call('ZREM', q .. ':all', id)
redis.call('ZREM', q .. ':open', id)
for t in string.gmatch(f[2] or '', '[^\n]+') do redis.call('ZREM', q .. ':tag:' .. t, id) end
redis.call('SREM', p .. ':nodeq:' .. (f[3] or ''), id)
redis.call('DEL', h)
return 1
