module cspbench/peers/go

go 1.19
