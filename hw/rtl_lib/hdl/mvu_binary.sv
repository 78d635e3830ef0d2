// fewerbits RTL layer library: binary (XNOR-popcount) matrix-vector unit.
//
// For every input vector (MW bits, SIMD per beat) and every output row r (MH rows, PE per
// fold): acc[r] = #{ i : x[i] == W[r][i] } (XNOR-popcount over bipolar values coded 0/1),
// then either acc itself (N_THRESHOLDS == 0) or ACT_VAL + #{ t : acc >= T[r][t] }.
// Folding as FINN's MVAU: NF = MH/PE row folds, SF = MW/SIMD column folds; the input vector
// is buffered and replayed NF times; weights stream from FINN's memstream in the order of
// FINN's memblock.dat (word nf*SF+sf, bit pe*SIMD+lane). One beat (SIMD x PE XNORs) per
// cycle when neither stream stalls.
module mvu_binary #(
	int unsigned  MW,
	int unsigned  MH,
	int unsigned  PE,
	int unsigned  SIMD,
	int unsigned  ACCU_WIDTH,       // width of the popcount (>= $clog2(MW+1))
	int unsigned  N_THRESHOLDS,     // 0: output the popcount (noActivation)
	int unsigned  THRESHOLD_WIDTH,  // thresholds are clipped to [0, MW+1]
	int unsigned  OUT_WIDTH,        // width of one output element
	int           ACT_VAL,          // added to the threshold count
	parameter     WEIGHT_FILE = "",
	parameter     THRESHOLD_FILE = "",
	parameter     RAM_STYLE = "auto",

	localparam int unsigned  SF = MW / SIMD,
	localparam int unsigned  NF = MH / PE,
	localparam int unsigned  WWIDTH = ((PE*SIMD + 7) / 8) * 8,
	localparam int unsigned  PC_WIDTH = $clog2(SIMD+1),
	localparam int unsigned  SF_BITS = SF > 1? $clog2(SF) : 1,
	localparam int unsigned  NF_BITS = NF > 1? $clog2(NF) : 1
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [SIMD-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [PE*OUT_WIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	initial begin
		if(MW % SIMD != 0)  $error("MW=%0d is not a multiple of SIMD=%0d", MW, SIMD);
		if(MH % PE != 0)  $error("MH=%0d is not a multiple of PE=%0d", MH, PE);
		if(2**ACCU_WIDTH <= MW)  $error("ACCU_WIDTH=%0d cannot hold %0d", ACCU_WIDTH, MW);
	end

	// Weight stream (FINN's memstream, no runtime configuration).
	uwire  w_vld;
	uwire  w_rdy;
	uwire [WWIDTH-1:0]  w_dat;
	memstream #(.SETS(1), .DEPTH(NF*SF), .WIDTH(WWIDTH), .INIT_FILE(WEIGHT_FILE),
		.RAM_STYLE(RAM_STYLE)) weights (
		.clk, .rst,
		.config_ce(1'b0), .config_we(1'b0), .config_address('0), .config_d0('0),
		.config_rack(), .config_q0(),
		.sidx('0), .svld(1'b0), .srdy(),
		.ordy(w_rdy), .ovld(w_vld), .odat(w_dat)
	);

	// Stage 0: issue one beat (activation word + weight word).
	logic [SF_BITS-1:0]  Sf = 0;
	logic [NF_BITS-1:0]  Nf = 0;
	uwire  first_fold = Nf == 0;
	uwire [SIMD-1:0]  a_dat;
	if(NF > 1) begin : genReplay
		logic [SIMD-1:0]  IBuf[SF];
		always_ff @(posedge clk) begin
			if(s_tvalid && s_tready)  IBuf[Sf] <= s_tdata;
		end
		assign	a_dat = first_fold? s_tdata : IBuf[Sf];
	end : genReplay
	else begin : genNoReplay
		assign	a_dat = s_tdata;
	end : genNoReplay
	uwire  a_vld = first_fold? s_tvalid : 1;

	logic  OVld = 0;
	uwire  en = !OVld || m_tready;      // the output register can take a result
	uwire  fire = en && a_vld && w_vld;
	assign	s_tready = en && w_vld && first_fold;
	assign	w_rdy = en && a_vld;

	always_ff @(posedge clk) begin
		if(rst) begin
			Sf <= 0;
			Nf <= 0;
		end
		else if(fire) begin
			if(Sf == SF-1) begin
				Sf <= 0;
				Nf <= (Nf == NF-1)? 0 : Nf + 1;
			end
			else  Sf <= Sf + 1;
		end
	end

	// Stage 1: XNOR-popcount of one beat per PE.
	function automatic logic [PC_WIDTH-1:0] popcount(input logic [SIMD-1:0] v);
		automatic logic [PC_WIDTH-1:0]  n = 0;
		for(int unsigned  i = 0; i < SIMD; i++)  n += v[i];
		return  n;
	endfunction : popcount

	logic  P1Vld = 0;
	logic  P1First;
	logic  P1Last;
	logic [NF_BITS-1:0]  P1Nf;
	logic [PC_WIDTH-1:0]  P1Pc[PE];
	always_ff @(posedge clk) begin
		if(rst)  P1Vld <= 0;
		else if(en)  P1Vld <= fire;
	end
	always_ff @(posedge clk) begin
		if(en) begin
			P1First <= Sf == 0;
			P1Last <= Sf == SF-1;
			P1Nf <= Nf;
			for(int unsigned  pe = 0; pe < PE; pe++) begin
				P1Pc[pe] <= popcount(~(a_dat ^ w_dat[pe*SIMD +: SIMD]));
			end
		end
	end

	// Stage 2: accumulate; after the last column fold, threshold into the output register.
	logic [ACCU_WIDTH-1:0]  Acc[PE];
	uwire [ACCU_WIDTH-1:0]  sum[PE];
	logic [OUT_WIDTH-1:0]  act[PE];
	logic [PE*OUT_WIDTH-1:0]  ODat;
	if(N_THRESHOLDS > 0) begin : genThresholds
		logic [THRESHOLD_WIDTH-1:0]  Thr[NF*PE*N_THRESHOLDS];
		initial $readmemh(THRESHOLD_FILE, Thr);
		for(genvar  pe = 0; pe < PE; pe++) begin : genPE
			always_comb begin
				automatic int  cnt = ACT_VAL;
				for(int unsigned  t = 0; t < N_THRESHOLDS; t++) begin
					if(sum[pe] >= Thr[(P1Nf*PE + pe)*N_THRESHOLDS + t])  cnt++;
				end
				act[pe] = OUT_WIDTH'(cnt);
			end
		end : genPE
	end : genThresholds
	else begin : genPopcount
		for(genvar  pe = 0; pe < PE; pe++) begin : genPE
			assign	act[pe] = OUT_WIDTH'(sum[pe]);
		end : genPE
	end : genPopcount
	for(genvar  pe = 0; pe < PE; pe++) begin : genSum
		assign	sum[pe] = (P1First? 0 : Acc[pe]) + ACCU_WIDTH'(P1Pc[pe]);
	end : genSum
	always_ff @(posedge clk) begin
		if(en && P1Vld) begin
			for(int unsigned  pe = 0; pe < PE; pe++) begin
				Acc[pe] <= sum[pe];
				if(P1Last)  ODat[pe*OUT_WIDTH +: OUT_WIDTH] <= act[pe];
			end
		end
	end

	always_ff @(posedge clk) begin
		if(rst)  OVld <= 0;
		else if(en)  OVld <= P1Vld && P1Last;
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : mvu_binary
