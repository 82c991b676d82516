from tracebed.reference.flagd.server import main

main()
