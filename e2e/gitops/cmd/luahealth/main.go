// Command luahealth runs an Argo CD resource health script in gopher-lua, the interpreter Argo
// CD embeds, the way Argo CD runs it: the object as the global `obj`, the script's returned
// table read for `status` and `message`.
//
//	luahealth SCRIPT < objects.json
//
// It reads a JSON array of objects on stdin and writes a JSON array of
// {"status": "...", "message": "..."}, one per object.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// toLua turns decoded JSON into Lua values as Argo CD does: objects and arrays become tables
// (arrays 1-based), numbers, strings and booleans their Lua kinds, null nil.
func toLua(state *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case map[string]interface{}:
		table := state.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(state, item))
		}
		return table
	case []interface{}:
		table := state.NewTable()
		for _, item := range v {
			table.Append(toLua(state, item))
		}
		return table
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	default:
		return lua.LNil
	}
}

func run(script string, object map[string]interface{}) (verdict, error) {
	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	for _, open := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		state.Push(state.NewFunction(open.fn))
		state.Push(lua.LString(open.name))
		state.Call(1, 0)
	}
	state.SetGlobal("obj", toLua(state, object))
	if err := state.DoString(script); err != nil {
		return verdict{}, err
	}
	returned, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		return verdict{}, fmt.Errorf("the script returned %s, not a table", state.Get(-1).Type())
	}
	return verdict{
		Status:  lua.LVAsString(returned.RawGetString("status")),
		Message: lua.LVAsString(returned.RawGetString("message")),
	}, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: luahealth SCRIPT < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "reading the script: %v\n", err)
		os.Exit(2)
	}
	var objects []map[string]interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fmt.Fprintf(os.Stderr, "reading objects: %v\n", err)
		os.Exit(2)
	}
	verdicts := make([]verdict, 0, len(objects))
	for _, object := range objects {
		result, err := run(string(script), object)
		if err != nil {
			fmt.Fprintf(os.Stderr, "running the script: %v\n", err)
			os.Exit(1)
		}
		verdicts = append(verdicts, result)
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		os.Exit(1)
	}
}
