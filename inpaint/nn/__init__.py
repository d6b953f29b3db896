"""Networks: the partial convolution, the PConv and Sim-K UNets, VGG-16, Inception-v3, weight loading."""
