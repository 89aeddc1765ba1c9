from pecsync.cli.main import main

raise SystemExit(main())
