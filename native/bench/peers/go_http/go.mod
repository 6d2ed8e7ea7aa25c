module fiberrt.example/httppeer

go 1.19
