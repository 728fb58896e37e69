from modeldeploy.shell.main import main

raise SystemExit(main())
