// fewerbits RTL layer library: a weight ROM read as a valid/ready stream.
//
// Words 0, 1, ..., DEPTH-1, 0, ... of INIT_FILE ($readmemh, one word a line): the order of
// FINN's memstream with one set, without its configuration port and its output credit
// buffer (an SRL per bit of WIDTH). RAM_STYLE "block" (or "ultra"): one registered read with
// enable, which block RAM implements; any other style: the word at a registered address read
// combinationally (LUT ROM / LUTRAM). Either way odat holds while ovld && !ordy, and word 0 is
// on odat one cycle after reset. Shared by the MVAU/VVAU cores of this library.
module weight_stream #(
	int unsigned  DEPTH,
	int unsigned  WIDTH,
	parameter     INIT_FILE = "",
	parameter     RAM_STYLE = "auto",

	localparam int unsigned  ADDR_BITS = DEPTH > 1? $clog2(DEPTH) : 1
)(
	input	logic  clk,
	input	logic  rst,

	input	logic  ordy,
	output	logic  ovld,
	output	logic [WIDTH-1:0]  odat
);

	logic [ADDR_BITS-1:0]  Ptr = 0;
	logic  Vld = 0;
	if(RAM_STYLE == "block" || RAM_STYLE == "ultra") begin : genRegistered
		// block RAM: a registered read with enable (odat is the RAM's output latch)
		(* ram_style = "block" *)
		logic [WIDTH-1:0]  Mem[DEPTH];
		if(INIT_FILE != "")  initial $readmemh(INIT_FILE, Mem);
		logic [WIDTH-1:0]  Dat;
		uwire  ld = ordy || !Vld;   // odat is taken or empty: read the next word
		always_ff @(posedge clk) begin
			if(rst) begin
				Ptr <= 0;
				Vld <= 0;
			end
			else if(ld) begin
				Ptr <= (Ptr == ADDR_BITS'(DEPTH-1))? 0 : Ptr + 1;
				Vld <= 1;
			end
		end
		always_ff @(posedge clk) begin
			if(ld)  Dat <= Mem[Ptr];
		end
		assign	odat = Dat;
	end : genRegistered
	else begin : genLogic
		// LUTs: the word of the current address, read combinationally (synthesis may merge
		// a shallow ROM into the logic that uses it)
		(* ram_style = RAM_STYLE, rom_style = RAM_STYLE *)
		logic [WIDTH-1:0]  Mem[DEPTH];
		if(INIT_FILE != "")  initial $readmemh(INIT_FILE, Mem);
		always_ff @(posedge clk) begin
			if(rst) begin
				Ptr <= 0;
				Vld <= 0;
			end
			else begin
				Vld <= 1;
				if(ordy && Vld)  Ptr <= (Ptr == ADDR_BITS'(DEPTH-1))? 0 : Ptr + 1;
			end
		end
		assign	odat = Mem[Ptr];
	end : genLogic
	assign	ovld = Vld;

endmodule : weight_stream
