from modeldeploy.main import main

raise SystemExit(main())
