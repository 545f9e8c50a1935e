from devservices.chendpoint.server import main

main()
