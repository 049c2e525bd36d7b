// Command orgdav serves an organisation's directory to contacts apps over
// CardDAV. Subcommands: serve, check, sync, logs, audit, shared, version.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `orgdav: the organisation directory in every contacts app (CardDAV).

Usage:
  orgdav serve [--config FILE] [--listen ADDR] [--metrics-listen ADDR|none] [--data DIR] [--demo-people N]
  orgdav check [--config FILE] [SOURCE]          connect, count and preview; changes nothing
  orgdav sync  [--config FILE] [--confirm] [SOURCE]  run one source or all now
  orgdav logs  [--config FILE] [--source S] [-n N]    recent runs
  orgdav audit [--config FILE] [-n N]                recent admin changes: who, what, before and after
  orgdav shared list|show|create|edit|delete|import|export|members ...   shared contact lists (orgdav shared help)
  orgdav version

Without --config, serve runs the built-in demo organisation.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "sync":
		err = syncCmd(os.Args[2:])
	case "logs":
		err = logsCmd(os.Args[2:])
	case "shared":
		err = sharedCmd(os.Args[2:])
	case "audit":
		err = auditCmd(os.Args[2:])
	case "check":
		err = checkCmd(os.Args[2:])
	case "version", "--version":
		fmt.Println("orgdav", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "orgdav: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orgdav:", err)
		os.Exit(1)
	}
}
