/* A larger, real-world module: the Lua 5.4 interpreter (from the lua-src
 * crate's sources) with a driver that runs a small script. Used for
 * compile throughput (the largest module at hand) and as an interpreter
 * workload. */
#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"
#include <stdint.h>

static const char *script =
    "local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end\n"
    "local t = {} for i = 1, 2000 do t[i] = tostring(i * 7 % 1013) .. 'x' end\n"
    "table.sort(t) local s = table.concat(t, ',')\n"
    "local words = 0 for w in s:gmatch('[^,]+') do words = words + 1 end\n"
    "return fib(...) * 100000 + #s + words\n";

__attribute__((export_name("kernel_lua"))) uint64_t kernel_lua(uint32_t n) {
    lua_State *L = luaL_newstate();
    if (!L)
        return 0;
    luaL_openlibs(L);
    uint64_t r = 0;
    if (luaL_loadstring(L, script) == 0) {
        lua_pushinteger(L, n);
        if (lua_pcall(L, 1, 1, 0) == 0)
            r = (uint64_t)lua_tointeger(L, -1);
    }
    lua_close(L);
    return r;
}
