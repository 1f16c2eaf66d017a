from vaf.cli import main

raise SystemExit(main())
