// fewerbits board wrapper: first-word-fall-through stream FIFO over a synchronous-read memory
// (Yosys maps it to block RAM or LUT RAM; DEPTH must be a power of two). Holds DEPTH + 1 words
// (the memory and the output register).
module fb_stream_fifo #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 16
) (
  input  logic             clk,
  input  logic             rst,
  input  logic [WIDTH-1:0] idat,
  input  logic             ivld,
  output logic             irdy,
  output logic [WIDTH-1:0] odat,
  output logic             ovld,
  input  logic             ordy
);
  localparam int AW = $clog2(DEPTH);
  logic [WIDTH-1:0] mem[DEPTH];
  logic [AW:0] wp, rp;
  logic full, empty, wr, rd;

  assign full = (wp[AW] != rp[AW]) && (wp[AW-1:0] == rp[AW-1:0]);
  assign empty = (wp == rp);
  assign irdy = !full;
  assign wr = ivld && !full;
  assign rd = !empty && (!ovld || ordy);

  always_ff @(posedge clk) begin
    if (wr) mem[wp[AW-1:0]] <= idat;
    if (rd) odat <= mem[rp[AW-1:0]];
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      wp <= '0;
      rp <= '0;
      ovld <= 1'b0;
    end else begin
      if (wr) wp <= wp + 1'b1;
      if (rd) rp <= rp + 1'b1;
      if (rd) ovld <= 1'b1;
      else if (ordy) ovld <= 1'b0;
    end
  end
endmodule
