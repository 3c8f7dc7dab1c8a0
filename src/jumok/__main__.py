from jumok.cli import main

raise SystemExit(main())
