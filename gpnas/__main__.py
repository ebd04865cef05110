from gpnas.cli import main

main()
