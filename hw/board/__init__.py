"""Open-FPGA boards: the board wrapper (UART link to the accelerator), its pin constraints, the
board bitstream build step and the simulation of the whole board top."""

#: BUILD/board/: the board top's synthesis, place and route, bitstream and summary
BOARD_DIR = "board"
BOARD_JSON = "board.json"
