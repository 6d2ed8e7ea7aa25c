module fiberrt.example/peers

go 1.19
