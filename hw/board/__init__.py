"""Open-FPGA boards: the board wrapper (UART link to the accelerator), its pin constraints, the
board bitstream build step and the simulation of the whole board top."""
