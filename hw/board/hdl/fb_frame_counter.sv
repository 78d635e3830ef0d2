// fewerbits board wrapper: where a batch of frames, sent byte by byte, stands. One counter
// each for fb_board's receive and transmit halves: BYTES bytes a word (byte 0 first), WORDS
// words a frame, n frames a batch. load starts a batch of n frames (n >= 1); step moves past
// the current byte (idx); word_end says it is its word's last, batch_end the batch's last.
module fb_frame_counter #(
  parameter int BYTES = 1,
  parameter int WORDS = 1,
  localparam int BW = $clog2(BYTES + 1),
  localparam int WW = $clog2(WORDS + 1)
) (
  input  logic          clk,
  input  logic          rst,
  input  logic          load,
  input  logic [15:0]   n,
  input  logic          step,
  output logic [BW-1:0] idx,
  output logic          word_end,
  output logic          batch_end
);
  logic [WW-1:0] words;
  logic [15:0] frames;
  assign word_end = idx == BW'(BYTES - 1);
  assign batch_end = word_end && words == 0 && frames == 16'd1;

  always_ff @(posedge clk) begin
    if (rst) idx <= '0;
    else if (load) begin
      frames <= n;
      words <= WW'(WORDS - 1);
      idx <= '0;
    end else if (step) begin
      if (word_end) begin
        idx <= '0;
        if (words == 0) begin
          words <= WW'(WORDS - 1);
          frames <= frames - 1'b1;
        end else words <= words - 1'b1;
      end else idx <= idx + 1'b1;
    end
  end
endmodule
